import KafkaProtocol
import NIOCore
import Testing

@Suite("Generated messages")
struct MessageRoundTripTests {
    /// Every (message, version) pair in the specs: random values encode, decode to the same
    /// value, re-encode to the same bytes, and consume exactly the bytes written.
    @Test func everyVersionOfEveryMessageRoundTrips() throws {
        var pairs = 0
        var apiPairs = 0
        var failures: [String] = []
        for message in allGeneratedMessages {
            for version in message.validVersions {
                for iteration in 0..<20 {
                    let seed = UInt64(message.name.utf8.count) &* 1_000_003 &+ UInt64(version) &* 7919 &+ UInt64(iteration)
                    var rng = TestRandom(seed: seed)
                    do {
                        let result = try message.run(version: version, rng: &rng)
                        if !result.equal || !result.sameBytes || result.leftover != 0 {
                            failures.append("\(message.name) v\(version) seed \(seed): equal=\(result.equal) sameBytes=\(result.sameBytes) leftover=\(result.leftover) \(result.description.prefix(300))")
                        }
                    } catch {
                        failures.append("\(message.name) v\(version) seed \(seed): threw \(error)")
                    }
                }
                pairs += 1
                if message.apiKey != nil { apiPairs += 1 }
            }
        }
        print("round-trip: \(pairs) (message, version) pairs, \(apiPairs) of them request/response (API key, version) pairs, 20 random values each")
        #expect(failures.isEmpty, "\(failures.count) failures:\n\(failures.prefix(20).joined(separator: "\n"))")
        // Every API in the registry is covered at every version, request and response.
        var covered = Set<String>()
        for message in allGeneratedMessages {
            guard let key = message.apiKey else { continue }
            for version in message.validVersions { covered.insert("\(message.name.hasSuffix("Request") ? "req" : "resp") \(key) v\(version)") }
        }
        for spec in ApiKey.allSpecs {
            for version in spec.validVersions {
                #expect(covered.contains("req \(spec.key.rawValue) v\(version)"), "\(spec.name) request v\(version) not covered")
                #expect(covered.contains("resp \(spec.key.rawValue) v\(version)"), "\(spec.name) response v\(version) not covered")
            }
        }
        #expect(apiPairs == 2 * ApiKey.allSpecs.reduce(0) { $0 + $1.validVersions.count })
    }
}
