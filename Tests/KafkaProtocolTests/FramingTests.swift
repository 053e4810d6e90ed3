import KafkaProtocol
import NIOCore
import Testing

@Suite("Framing and headers")
struct FramingTests {
    @Test func requestFrameUsesTheHeaderVersionOfItsApiAndVersion() throws {
        // Metadata v8 is not flexible: header v1. v9 is: header v2 with a tagged-field section.
        for (version, headerVersion) in [(Int16(8), Int16(1)), (9, 2)] {
            var frame = ByteBuffer()
            let request = MetadataRequest(topics: [.init(name: "orders")], allowAutoTopicCreation: true)
            try frame.writeKafkaRequest(request, version: version, correlationId: 77, clientId: "client-1")
            let body = try #require(try KafkaFrameDecoder().nextFrame(from: &frame))
            #expect(frame.readableBytes == 0)
            let parsed = try KafkaRequestFrame(frame: body)
            #expect(parsed.apiKey == .metadata)
            #expect(parsed.apiVersion == version)
            #expect(parsed.correlationId == 77)
            #expect(parsed.header.clientId == "client-1")
            #expect(MetadataRequest.apiKey.spec?.requestHeaderVersion(forApiVersion: version) == headerVersion)
            let decoded = try #require(try parsed.decodeBody() as? MetadataRequest)
            #expect(decoded == request)
        }
    }

    @Test func apiVersionsResponseHeaderIsAlwaysV0() throws {
        let spec = try #require(ApiKey.apiVersions.spec)
        for version in spec.validVersions {
            #expect(spec.responseHeaderVersion(forApiVersion: version) == 0)
        }
        #expect(ApiKey.metadata.spec?.responseHeaderVersion(forApiVersion: 9) == 1)
        #expect(ApiKey.metadata.spec?.responseHeaderVersion(forApiVersion: 8) == 0)
        #expect(ApiKey.controlledShutdown.spec?.requestHeaderVersion(forApiVersion: 0) == 0)
        var frame = ByteBuffer()
        try frame.writeKafkaResponse(ApiVersionsResponse(errorCode: 35), version: 3, correlationId: 5)
        // size, correlation id, then the body: no tagged-field byte in between.
        #expect(frame.getInteger(at: 4, as: Int32.self) == 5)
        #expect(frame.getInteger(at: 8, as: Int16.self) == 35)
    }

    @Test func frameDecoderWaitsForWholeFramesAndRejectsBadSizes() throws {
        let decoder = KafkaFrameDecoder(maximumFrameSize: 1024)
        var partial = ByteBuffer(bytes: [0, 0, 0, 10, 1, 2, 3])
        #expect(try decoder.nextFrame(from: &partial) == nil)
        #expect(partial.readableBytes == 7)
        partial.writeBytes([4, 5, 6, 7, 8, 9, 10])
        #expect(try decoder.nextFrame(from: &partial)?.readableBytes == 10)

        var huge = ByteBuffer(bytes: [0x7F, 0xFF, 0xFF, 0xFF])
        #expect(throws: KafkaProtocolError.frameTooLarge(size: Int(Int32.max), maximum: 1024)) {
            _ = try decoder.nextFrame(from: &huge)
        }
        var negative = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFE])
        #expect(throws: KafkaProtocolError.invalidLength(-2)) { _ = try decoder.nextFrame(from: &negative) }
    }

    @Test func unknownKeysAndVersionsAreTypedErrors() throws {
        var body = ByteBuffer()
        #expect(throws: KafkaProtocolError.unknownApiKey(999)) {
            _ = try ApiKey(rawValue: 999).decodeRequest(from: &body, version: 0)
        }
        #expect(throws: KafkaProtocolError.unsupportedVersion(apiKey: 3, version: 99)) {
            _ = try ApiKey.metadata.decodeRequest(from: &body, version: 99)
        }
    }

    @Test func hostileLengthsAreRejectedBeforeAllocating() throws {
        // A Metadata v1 body claiming 2^31-1 topics in 4 bytes.
        var arrayBomb = ByteBuffer(bytes: [0x7F, 0xFF, 0xFF, 0xFF])
        #expect(throws: KafkaProtocolError.arrayTooLong(count: Int(Int32.max), remainingBytes: 0)) {
            _ = try MetadataRequest(from: &arrayBomb, version: 1)
        }
        // A string claiming 32767 bytes with 2 present.
        var stringBomb = ByteBuffer(bytes: [0x00, 0x00, 0x00, 0x01, 0x7F, 0xFF, 0x61, 0x62])
        #expect(throws: KafkaProtocolError.truncated(needed: 32767, available: 2)) {
            _ = try MetadataRequest(from: &stringBomb, version: 1)
        }
        // Invalid UTF-8 in a topic name.
        var badText = ByteBuffer(bytes: [0x00, 0x00, 0x00, 0x01, 0x00, 0x02, 0xC3, 0x28])
        #expect(throws: KafkaProtocolError.invalidUTF8) { _ = try MetadataRequest(from: &badText, version: 1) }
        // A null where the version does not allow one (topic name is non-nullable before v10).
        var nullName = ByteBuffer(bytes: [0x00, 0x00, 0x00, 0x01, 0xFF, 0xFF])
        #expect(throws: KafkaProtocolError.unexpectedNull(field: "Name")) { _ = try MetadataRequest(from: &nullName, version: 1) }
    }

    @Test func unknownTaggedFieldsAreSkipped() throws {
        // ApiVersionsRequest v3 with an extra tagged field (tag 99, 3 bytes) after the known fields.
        var body = ByteBuffer()
        try body.writeKafkaString("sluice", compact: true, field: "")
        try body.writeKafkaString("1.0", compact: true, field: "")
        body.writeUnsignedVarint(1)
        body.writeUnsignedVarint(99)
        body.writeUnsignedVarint(3)
        body.writeBytes([1, 2, 3])
        let decoded = try ApiVersionsRequest(from: &body, version: 3)
        #expect(decoded.clientSoftwareName == "sluice")
        #expect(body.readableBytes == 0)
    }

    @Test func writingAFieldTheVersionLacksFailsUnlessIgnorable() throws {
        // Metadata v3 has no IncludeTopicAuthorizedOperations (v8-10); it is ignorable... but
        // AllowAutoTopicCreation=false cannot be expressed before v4 and is not ignorable.
        let request = MetadataRequest(topics: [], allowAutoTopicCreation: false)
        #expect(throws: KafkaProtocolError.fieldNotSupported(field: "AllowAutoTopicCreation", version: 3)) {
            _ = try request.encoded(version: 3)
        }
        _ = try request.encoded(version: 4)
    }
}
