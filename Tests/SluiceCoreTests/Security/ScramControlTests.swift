import KafkaProtocol
import NIOCore
import SluiceSASL
import Testing

@testable import SluiceCore

/// AlterUserScramCredentials and DescribeUserScramCredentials decided as Kafka's
/// ScramControlManager decides them, and the credentials they leave, through the records.
@Suite("SCRAM control")
struct ScramControlTests {
    typealias Upsertion = AlterUserScramCredentialsRequest.ScramCredentialUpsertion
    typealias Deletion = AlterUserScramCredentialsRequest.ScramCredentialDeletion

    static func upsert(_ user: String, _ mechanism: Int8 = 1, iterations: Int32 = 4096, password: String = "pw") -> Upsertion {
        let salt: [UInt8] = [1, 2, 3, 4]
        let salted = (ScramMechanism(rawValue: mechanism) ?? .sha256).saltedPassword(password, salt: salt, iterations: Int(iterations))
        return Upsertion(name: user, mechanism: mechanism, iterations: iterations, salt: ByteBuffer(bytes: salt),
                         saltedPassword: ByteBuffer(bytes: salted))
    }

    static func apply(_ records: [MetadataRecordToWrite], to credentials: inout UserScramCredentials) {
        for record in records { credentials.apply(record.record) }
    }

    @Test func upsertsMakeCredentialsTheExchangeAccepts() throws {
        var credentials = UserScramCredentials()
        let (records, results) = ScramControl.alter(
            AlterUserScramCredentialsRequest(upsertions: [Self.upsert("alice"), Self.upsert("alice", 2, iterations: 8192)]),
            current: credentials)
        #expect(results == [.init(user: "alice", error: .none)])
        Self.apply(records, to: &credentials)
        #expect(credentials.credential(user: "alice", mechanism: .sha512)?.iterations == 8192)
        let stored = try #require(credentials.credential(user: "alice", mechanism: .sha256))
        #expect(stored == ScramCredential(mechanism: .sha256, password: "pw", iterations: 4096, salt: [1, 2, 3, 4]))
    }

    @Test func aUserWithAnyRefusedChangeGetsNoneOfThem() {
        let current = UserScramCredentials()
        let cases: [(AlterUserScramCredentialsRequest, KafkaErrorCode)] = [
            (.init(upsertions: [Self.upsert("a", iterations: 4095)]), .unacceptableCredential),
            (.init(upsertions: [Self.upsert("a", iterations: 16385)]), .unacceptableCredential),
            (.init(upsertions: [Self.upsert("a", 3)]), .unsupportedSaslMechanism),
            (.init(upsertions: [Self.upsert("")]), .unacceptableCredential),
            (.init(deletions: [Deletion(name: "a", mechanism: 1)]), .resourceNotFound),
            (.init(deletions: [Deletion(name: "a", mechanism: 1)], upsertions: [Self.upsert("a")]), .duplicateResource),
            (.init(upsertions: [Self.upsert("a", 2), Self.upsert("a", iterations: 1)]), .unacceptableCredential),
        ]
        for (request, expected) in cases {
            let (records, results) = ScramControl.alter(request, current: current)
            #expect(records.isEmpty)
            #expect(results.map(\.error) == [expected])
        }
        // Other users in the same request are unaffected.
        let (records, results) = ScramControl.alter(
            .init(upsertions: [Self.upsert("bad", iterations: 1), Self.upsert("good")]), current: current)
        #expect(results.map(\.error) == [.unacceptableCredential, .none])
        #expect(records.count == 1)
    }

    @Test func deletionsRemoveAndDescribeReportsAsKafkaDoes() {
        var credentials = UserScramCredentials()
        Self.apply(ScramControl.alter(.init(upsertions: [Self.upsert("a"), Self.upsert("a", 2), Self.upsert("b")]),
                                      current: credentials).records, to: &credentials)
        let (records, results) = ScramControl.alter(.init(deletions: [Deletion(name: "a", mechanism: 1)]), current: credentials)
        #expect(results.map(\.error) == [.none])
        Self.apply(records, to: &credentials)
        #expect(credentials.credential(user: "a", mechanism: .sha256) == nil)
        #expect(credentials.credential(user: "a", mechanism: .sha512) != nil)

        let all = ScramControl.describe(.init(users: nil), current: credentials)
        #expect(all.results.map(\.user) == ["a", "b"])
        #expect(all.results[0].credentialInfos == [.init(mechanism: 2, iterations: 4096)])
        let named = ScramControl.describe(.init(users: [.init(name: "b"), .init(name: "zed"), .init(name: "a"), .init(name: "a")]),
                                          current: credentials)
        #expect(named.results.map(\.user) == ["b", "zed", "a"])
        #expect(named.results.map(\.errorCode) == [0, KafkaErrorCode.resourceNotFound.rawValue, KafkaErrorCode.duplicateResource.rawValue])
    }

    /// A cluster's image carries them, and a snapshot keeps them.
    @Test func theMetadataImageAndItsSnapshotHoldThem() throws {
        var image = MetadataImage()
        for record in ScramControl.alter(.init(upsertions: [Self.upsert("a"), Self.upsert("b", 2)]), current: .init()).records {
            try image.apply(record.record, type: record.type)
        }
        try image.apply(RemoveUserScramCredentialRecord(name: "b", mechanism: 2), type: .removeUserScramCredential)
        let restored = try MetadataSnapshot.decode(MetadataSnapshot.encode(image))
        #expect(restored.scramCredentials == image.scramCredentials)
        #expect(restored.scramCredentials.users.keys.sorted() == ["a"])
    }
}
