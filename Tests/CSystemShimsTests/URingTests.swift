import CSluiceUring
import Glibc
import Testing

@Suite("io_uring glue")
struct URingTests {
    /// A linked write + fdatasync through the glue lands on disk. Skips with a message when the
    /// kernel or sandbox refuses io_uring (the storage engine then uses pwrite).
    @Test func linkedWriteThenFdatasync() throws {
        var error: Int32 = 0
        guard let ring = sluice_uring_create(8, &error) else {
            print("io_uring unavailable here (errno \(-error)); skipping")
            return
        }
        defer { sluice_uring_destroy(ring) }
        var template = Array("/tmp/sluice-uring-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        #expect(fd >= 0)
        defer { close(fd); unlink(template) }
        let payload = Array(repeating: UInt8(0xAB), count: 4096)
        try payload.withUnsafeBytes { raw in
            #expect(sluice_uring_prep_write(ring, fd, raw.baseAddress, 4096, 0, 1, sluice_iosqe_io_link) == 0)
            #expect(sluice_uring_prep_fdatasync(ring, fd, 2, 0) == 0)
            #expect(sluice_uring_submit(ring) == 2)
            var ids = [UInt64](repeating: 0, count: 4)
            var results = [Int32](repeating: 0, count: 4)
            var seen = 0
            while seen < 2 {
                let n = sluice_uring_reap(ring, 1, &ids[seen], &results[seen], UInt32(4 - seen))
                try #require(n > 0)
                seen += Int(n)
            }
            #expect(Set(ids.prefix(2)) == [1, 2])
            for i in 0..<2 {
                #expect(results[i] == (ids[i] == 1 ? 4096 : 0))
            }
        }
        var st = stat()
        fstat(fd, &st)
        #expect(st.st_size == 4096)
    }

    @Test func schedulableCPUsAreThoseOfTheAffinityMask() {
        // Without taskset or a cpuset every online CPU is schedulable; never more than that.
        let count = sluice_schedulable_cpu_count()
        #expect(count >= 1)
        #expect(Int(count) <= sysconf(Int32(_SC_NPROCESSORS_CONF)))
    }
}
