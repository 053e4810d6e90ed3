import CSluiceUring
import NIOCore

/// Event loops when `num.network.threads` is 0: one per core this process may run on. NIO's
/// `System.coreCount` reads the machine and cgroup limits but not the affinity mask, so a broker
/// started under `taskset -c 0` would run two loops on one core and pay a thread switch for every
/// request that touches a partition of the other loop (about a tenth of its CPU per produce request
/// with eight partitions, measured).
func defaultLoopCount() -> Int {
    let schedulable = Int(sluice_schedulable_cpu_count())
    return schedulable > 0 ? min(System.coreCount, schedulable) : System.coreCount
}
