/// The one place Sluice's version is written: `sluice --version` prints it, and the client
/// reports it to brokers in ApiVersions (client.software.version, KIP-511).
public enum SluiceVersion {
    public static let current = "0.1.0"
}
