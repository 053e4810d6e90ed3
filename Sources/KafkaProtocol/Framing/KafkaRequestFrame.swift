import NIOCore

/// A request as it arrives: its header, decoded with the header version its API and version
/// call for, and the body bytes still undecoded (so a broker can answer an unsupported version
/// with the right correlation id before it looks at the body).
public struct KafkaRequestFrame: Sendable {
    public var header: RequestHeader
    public var body: ByteBuffer

    public var apiKey: ApiKey { ApiKey(rawValue: header.requestApiKey) }
    public var apiVersion: Int16 { header.requestApiVersion }
    public var correlationId: Int32 { header.correlationId }

    /// Parses the header from a frame body. An unknown API key still yields the key, version and
    /// correlation id (read as header v1) so the caller can log and close as Kafka does.
    public init(frame: ByteBuffer) throws {
        var buffer = frame
        guard let apiKeyRaw = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: Int16.self),
              let version = buffer.getInteger(at: buffer.readerIndex + 2, endianness: .big, as: Int16.self)
        else {
            throw KafkaProtocolError.truncated(needed: 4, available: buffer.readableBytes)
        }
        let headerVersion = ApiKey(rawValue: apiKeyRaw).spec?.requestHeaderVersion(forApiVersion: version) ?? 1
        self.header = try RequestHeader(from: &buffer, version: headerVersion)
        self.body = buffer
    }

    /// The API key of a frame body without parsing anything else, or nil when it is too short.
    public static func peekApiKey(_ frame: ByteBuffer) -> ApiKey? {
        frame.getInteger(at: frame.readerIndex, endianness: .big, as: Int16.self).map(ApiKey.init(rawValue:))
    }

    public init(header: RequestHeader, body: ByteBuffer) {
        self.header = header
        self.body = body
    }

    /// Decodes the body for this frame's API and version.
    public func decodeBody() throws -> any KafkaRequest {
        var body = self.body
        let request = try apiKey.decodeRequest(from: &body, version: apiVersion)
        return request
    }
}

extension ByteBuffer {
    /// Writes a whole request frame: size, header (the version the API calls for), body.
    public mutating func writeKafkaRequest<R: KafkaRequest>(
        _ request: R, version: Int16, correlationId: Int32, clientId: String?
    ) throws {
        guard let spec = R.apiKey.spec else { throw KafkaProtocolError.unknownApiKey(R.apiKey.rawValue) }
        let start = self.beginKafkaFrame()
        let header = RequestHeader(
            requestApiKey: R.apiKey.rawValue, requestApiVersion: version,
            correlationId: correlationId, clientId: clientId
        )
        try header.write(to: &self, version: spec.requestHeaderVersion(forApiVersion: version))
        try request.write(to: &self, version: version)
        self.endKafkaFrame(at: start)
    }

    /// Writes a whole response frame: size, header (v0, or v1 in flexible versions except for
    /// ApiVersions), body.
    public mutating func writeKafkaResponse<R: KafkaResponse>(
        _ response: R, version: Int16, correlationId: Int32
    ) throws {
        guard let spec = R.apiKey.spec else { throw KafkaProtocolError.unknownApiKey(R.apiKey.rawValue) }
        let start = self.beginKafkaFrame()
        let header = ResponseHeader(correlationId: correlationId)
        try header.write(to: &self, version: spec.responseHeaderVersion(forApiVersion: version))
        try response.write(to: &self, version: version)
        self.endKafkaFrame(at: start)
    }
}
