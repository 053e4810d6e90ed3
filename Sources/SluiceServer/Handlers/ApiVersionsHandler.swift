import KafkaProtocol
import NIOCore
import SluiceCore

/// ApiVersions v0–4. A version this broker does not know is answered, not refused: a v0 body
/// with UNSUPPORTED_VERSION listing the ApiVersions range, so the client can retry within it.
enum ApiVersionsHandler {
    static func handle(_ request: RequestContext) -> EventLoopFuture<OutgoingResponse?> {
        let supported = SupportedApis.range(for: .apiVersions)!
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
        let keys = SupportedApis.ranges.map {
            ApiVersionsResponse.ApiVersion(apiKey: $0.0.rawValue, minVersion: $0.1.lowerBound, maxVersion: $0.1.upperBound)
        }
        return request.respond(ApiVersionsResponse(errorCode: 0, apiKeys: keys))
    }
}
