import Foundation
import Testing
@testable import SluiceRaft

/// The quorum under the simulator's seeded faults. `make test` runs a few hundred seeds;
/// `make simulate` runs many more (SLUICE_SIM_SEEDS, SLUICE_SIM_FIRST_SEED). A failure names
/// its seed: SLUICE_SIM_SEED=<seed> swift test --filter RaftSimulationTests replays it.
@Suite struct RaftSimulationTests {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    static var seeds: [UInt64] {
        if let one = environment["SLUICE_SIM_SEED"].flatMap(UInt64.init) { return [one] }
        let count = environment["SLUICE_SIM_SEEDS"].flatMap(UInt64.init) ?? 200
        let first = environment["SLUICE_SIM_FIRST_SEED"].flatMap(UInt64.init) ?? 1
        return Array(first..<first + count)
    }

    @Test func seededRunsKeepEveryInvariant() {
        var failures: [String] = []
        var total = RaftSimulation.Statistics()
        let started = Date()
        for seed in Self.seeds {
            let simulation = RaftSimulation(seed: seed)
            simulation.trace = Self.environment["SLUICE_SIM_TRACE"] == "1"
            if let window = Self.environment["SLUICE_SIM_TRACE_MESSAGES"]?.split(separator: "-").compactMap({ Int64($0) }),
               window.count == 2 {
                simulation.traceMessages = window[0]...window[1]
            }
            let violations = simulation.run()
            let stats = simulation.statistics
            total.events += stats.events
            total.crashes += stats.crashes
            total.cuts += stats.cuts
            total.pauses += stats.pauses
            total.dropped += stats.dropped
            total.committed += stats.committed
            total.epochs += stats.epochs
            total.snapshotsTaken += stats.snapshotsTaken
            total.snapshotsLoaded += stats.snapshotsLoaded
            if let first = violations.first {
                failures.append("seed \(seed) (\(simulation.options)): \(first)")
            }
        }
        let seconds = Date().timeIntervalSince(started)
        print("raft simulation: \(Self.seeds.count) seeds in \(String(format: "%.1f", seconds)) s, \(failures.count) with violations; "
              + "\(total.events) events, \(total.crashes) crashes, \(total.cuts) link cuts, \(total.pauses) pauses, "
              + "\(total.dropped) messages lost, \(total.epochs) epochs, \(total.committed) records committed, "
              + "\(total.snapshotsTaken) snapshots taken, \(total.snapshotsLoaded) loaded")
        for failure in failures.prefix(20) { print("  " + failure) }
        #expect(failures.isEmpty, "replay one with SLUICE_SIM_SEED=<seed> swift test --filter RaftSimulationTests")
    }

    /// The same seed gives the same run, event for event: what makes a failure replayable.
    @Test func aSeedReplaysExactly() {
        let first = RaftSimulation(seed: 42)
        first.run()
        let second = RaftSimulation(seed: 42)
        second.run()
        #expect(first.statistics.events == second.statistics.events)
        #expect(first.statistics.committed == second.statistics.committed)
        #expect(first.statistics.epochs == second.statistics.epochs)
        #expect(first.statistics.events > 1_000)
    }

    /// The checker is not blind: the same scenarios on a disk that loses synced data break the
    /// invariants, and the runs say which. (A vote forgotten across a restart is shown by
    /// RaftReplicaTests.aVoteSurvivesARestart: random runs seldom hit its narrow window.)
    @Test func aLyingDiskIsCaught() {
        let flaw = SimulationOptions.Flaw.lyingDisk
        var caught: [String] = []
        for seed in UInt64(1)...40 {
            let simulation = RaftSimulation(seed: seed, flaw: flaw)
            if let first = simulation.run().first { caught.append("seed \(seed): \(first)") }
        }
        print("raft simulation with \(flaw): \(caught.count) of 40 seeds caught; first: \(caught.first ?? "none")")
        #expect(!caught.isEmpty)
    }
}
