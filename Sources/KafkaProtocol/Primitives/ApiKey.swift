/// A Kafka API key (Produce is 0, Fetch 1, ...). The named constants live in
/// `ApiKey+Generated.swift`, one for every API in the message specs.
public struct ApiKey: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: Int16

    public init(rawValue: Int16) {
        self.rawValue = rawValue
    }

    public static func < (lhs: ApiKey, rhs: ApiKey) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    /// What the spec says about this API, or nil for a key no spec defines.
    public var spec: ApiSpec? {
        ApiSpec.byKey[self]
    }

    public var description: String {
        spec?.name ?? "ApiKey(\(rawValue))"
    }
}

/// One API as its request and response specs describe it.
public struct ApiSpec: Sendable {
    public let key: ApiKey
    public let name: String
    public let validVersions: ClosedRange<Int16>
    public let firstFlexibleRequestVersion: Int16?
    public let firstFlexibleResponseVersion: Int16?
    /// The newest version in `validVersions` is not final yet and must not be advertised.
    public let latestVersionUnstable: Bool
    /// Which server roles accept it (`broker`, `controller`, `zkBroker`).
    public let listeners: [String]

    static let byKey: [ApiKey: ApiSpec] = Dictionary(
        ApiKey.allSpecs.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first }
    )

    /// Request header version for a request of this API at `version`: v2 in flexible versions,
    /// v1 otherwise, v0 only for ControlledShutdown v0.
    public func requestHeaderVersion(forApiVersion version: Int16) -> Int16 {
        if key == .controlledShutdown && version == 0 { return 0 }
        if let first = firstFlexibleRequestVersion, version >= first { return 2 }
        return 1
    }

    /// Response header version: v1 in flexible versions, v0 otherwise, and always v0 for
    /// ApiVersions so that a client of any age can read the answer.
    public func responseHeaderVersion(forApiVersion version: Int16) -> Int16 {
        if key == .apiVersions { return 0 }
        if let first = firstFlexibleResponseVersion, version >= first { return 1 }
        return 0
    }
}
