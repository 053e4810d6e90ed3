@testable import SluiceRaft

/// The shape of one simulated run: the quorum's size and the faults thrown at it. Drawn from
/// the seed, so a seed names a whole scenario.
struct SimulationOptions: CustomStringConvertible {
    var voters = 3
    var observers = 0
    /// Virtual time with faults, then time healed for the liveness check.
    var faultyMs: Int64 = 20_000
    var healedMs: Int64 = 20_000
    var dropRate = 0.0
    var duplicateRate = 0.0
    var maxDelayMs: Int64 = 5
    /// Some messages arrive very late (seconds), long after newer ones.
    var lateRate = 0.0
    /// Mean spacing of faults (crash, restart, cut links, pause).
    var faultEveryMs: Int64 = 1_000
    var crashes = true
    var partitions = true
    var pauses = true
    var appendEveryMs: Int64 = 50
    var snapshotEvery = 50
    var config = RaftConfig(nodeId: 0, voters: [])
    /// A broken environment, to show that the checker notices what Raft cannot survive.
    var flaw: Flaw?

    enum Flaw {
        /// fsync returns before the data is safe: a crash also loses the last flushed records.
        case lyingDisk
        /// The election state is stored without the vote: a restarted voter may vote twice in one epoch.
        case forgetfulVotes
    }

    static func drawn(from random: inout SplitMix64) -> SimulationOptions {
        var options = SimulationOptions()
        options.voters = [1, 3, 3, 3, 5, 5].randomElement(using: &random)!
        options.observers = Int.random(in: 0...2, using: &random)
        options.dropRate = [0, 0.01, 0.05, 0.15].randomElement(using: &random)!
        options.duplicateRate = [0, 0.02, 0.1].randomElement(using: &random)!
        options.maxDelayMs = [2, 20, 100].randomElement(using: &random)!
        options.lateRate = [0, 0, 0.01].randomElement(using: &random)!
        options.faultEveryMs = [300, 1_000, 3_000].randomElement(using: &random)!
        options.crashes = Int.random(in: 0..<4, using: &random) > 0
        options.partitions = Int.random(in: 0..<4, using: &random) > 0
        options.pauses = Int.random(in: 0..<3, using: &random) > 0
        options.appendEveryMs = [10, 50, 200].randomElement(using: &random)!
        options.snapshotEvery = [20, 100, 400].randomElement(using: &random)!
        options.config.electionTimeoutMs = 1_000
        options.config.fetchTimeoutMs = 2_000
        options.config.appendLingerMs = [0, 5, 25].randomElement(using: &random)!
        options.config.snapshotChunkBytes = 8192
        options.config.maxFetchRecords = [5, 100].randomElement(using: &random)!
        return options
    }

    var description: String {
        "\(voters) voters, \(observers) observers; drop \(dropRate), duplicate \(duplicateRate), delay ≤\(maxDelayMs) ms, "
            + "late \(lateRate); a fault every ~\(faultEveryMs) ms (crash \(crashes), cut \(partitions), pause \(pauses)); "
            + "append every \(appendEveryMs) ms, snapshot every \(snapshotEvery), linger \(config.appendLingerMs) ms, "
            + "\(config.maxFetchRecords) records a fetch"
    }
}
