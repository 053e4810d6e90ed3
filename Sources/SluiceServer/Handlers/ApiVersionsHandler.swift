import KafkaProtocol
import NIOCore
import SluiceCore

/// ApiVersions v0–4. A version this broker does not know is answered, not refused: a v0 body
/// with UNSUPPORTED_VERSION listing the ApiVersions range, so the client can retry within it.
enum ApiVersionsHandler {
    static func handle(_ request: RequestContext, ranges: [(ApiKey, ClosedRange<Int16>)] = SupportedApis.ranges)
        -> EventLoopFuture<OutgoingResponse?> {
        let supported = ranges.first { $0.0 == .apiVersions }?.1 ?? 0...4
        guard supported.contains(request.version) else {
            let answer = ApiVersionsResponse(
                errorCode: KafkaErrorCode.unsupportedVersion.rawValue,
                apiKeys: [.init(apiKey: ApiKey.apiVersions.rawValue, minVersion: supported.lowerBound, maxVersion: supported.upperBound)])
            do {
                return request.eventLoop.makeSucceededFuture(
                    try OutgoingResponse.encode(answer, version: 0, correlationId: request.correlationId))
            } catch {
                return request.eventLoop.makeFailedFuture(error)
            }
        }
        // The body must parse (a malformed one closes the connection, as in Kafka), and from v3 the
        // client's software name and version must be well formed (INVALID_REQUEST otherwise).
        let body: ApiVersionsRequest
        do {
            body = try request.decode(ApiVersionsRequest.self)
        } catch {
            return request.eventLoop.makeFailedFuture(CloseConnection(reason: "malformed ApiVersions v\(request.version): \(error)"))
        }
        if request.version >= 3 && !(isValidSoftwareField(body.clientSoftwareName) && isValidSoftwareField(body.clientSoftwareVersion)) {
            return request.respond(ApiVersionsResponse(errorCode: KafkaErrorCode.invalidRequest.rawValue))
        }
        let keys = ranges.map {
            ApiVersionsResponse.ApiVersion(apiKey: $0.0.rawValue, minVersion: $0.1.lowerBound, maxVersion: $0.1.upperBound)
        }
        return request.respond(ApiVersionsResponse(errorCode: 0, apiKeys: keys))
    }

    /// Kafka's rule for ClientSoftwareName/Version: [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?
    static func isValidSoftwareField(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, let last = bytes.last else { return false }
        func alphanumeric(_ byte: UInt8) -> Bool {
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
        }
        return alphanumeric(first) && alphanumeric(last) && bytes.allSatisfy { alphanumeric($0) || $0 == 0x2D || $0 == 0x2E }
    }
}
