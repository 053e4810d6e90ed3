import KafkaProtocol
import Synchronization

/// Where dynamic broker settings apply: every broker (AlterConfigs on the resource "") or one.
public enum BrokerConfigScope: Hashable, Sendable {
    case clusterDefault
    case broker(Int32)
}

/// A config change refused, with the Kafka error code and message the client gets.
public struct ConfigChangeError: Error, Sendable, CustomStringConvertible {
    public let code: KafkaErrorCode
    public let message: String
    public init(_ code: KafkaErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "\(code): \(message)" }
}

/// Where dynamic broker settings are kept across restarts (the data directory for now; the
/// cluster's metadata log once there is one).
public protocol DynamicConfigStore: Sendable {
    func load() throws -> (defaults: [String: String], broker: [String: String])
    func save(_ values: [String: String], for scope: BrokerConfigScope) throws
}

/// Kafka's rules for AlterConfigs and IncrementalAlterConfigs on broker resources, as its
/// brokers apply them before forwarding to the controller (ConfigAdminManager and
/// DynamicBrokerConfig.validateConfigs): the resource names "" or the receiving broker; a
/// setting Kafka cannot change at run time is refused with INVALID_REQUEST "Cannot update these
/// configs dynamically: Set(...)"; values are checked by type and rule (INVALID_REQUEST too);
/// names Kafka does not know are stored as custom settings. Sluice refuses as static the few
/// dynamic Kafka settings it cannot change while running (listeners, num.network.threads).
public enum DynamicBrokerConfigs {
    /// The scope an AlterConfigs resource name stands for on broker `nodeId`.
    public static func alterScope(_ resourceName: String, nodeId: Int32) -> Result<BrokerConfigScope, ConfigChangeError> {
        if resourceName.isEmpty { return .success(.clusterDefault) }
        guard let id = Int32(resourceName) else {
            return .failure(ConfigChangeError(.invalidRequest, "Node id must be an integer, but it is: \(resourceName)"))
        }
        guard id == nodeId else {
            return .failure(ConfigChangeError(.invalidRequest, "Unexpected broker id, expected \(nodeId), but received \(resourceName)"))
        }
        return .success(.broker(id))
    }

    /// The scope a DescribeConfigs resource name stands for on broker `nodeId`.
    public static func describeScope(_ resourceName: String, nodeId: Int32) -> Result<BrokerConfigScope, ConfigChangeError> {
        if resourceName.isEmpty { return .success(.clusterDefault) }
        guard let id = Int32(resourceName) else {
            return .failure(ConfigChangeError(.invalidRequest, "Broker id must be an integer, but it is: \(resourceName)"))
        }
        guard id == nodeId else {
            return .failure(ConfigChangeError(.invalidRequest,
                                              "Unexpected broker id, expected \(nodeId) or empty string, but received \(resourceName)"))
        }
        return .success(.broker(id))
    }

    /// Checks a scope's complete new set of dynamic values.
    public static func validationError(_ values: [String: String]) -> ConfigChangeError? {
        let fixed = values.keys.filter { BrokerSettings.named($0).map { !$0.dynamic } ?? false }
        if !fixed.isEmpty {
            return ConfigChangeError(.invalidRequest, "Cannot update these configs dynamically: \(scalaSet(fixed))")
        }
        for (name, value) in values.sorted(by: { $0.key < $1.key }) {
            guard let setting = BrokerSettings.named(name) else { continue }
            if let error = setting.key.validationError(value) { return ConfigChangeError(.invalidRequest, error) }
            if let reason = BrokerConfig.valueError(name, value) {
                return ConfigChangeError(.invalidConfig, "Invalid value \(value) for configuration \(name): \(reason)")
            }
        }
        return nil
    }

    /// Applies IncrementalAlterConfigs operations to a scope's stored values, as Kafka's
    /// ConfigAdminManager does: APPEND and SUBTRACT on list settings only, from the stored
    /// value or else the setting's default.
    public static func applying(_ operations: [(name: String, operation: TopicConfigs.Operation, value: String?)],
                                to current: [String: String]) -> Result<[String: String], ConfigChangeError> {
        var result = current
        for (name, operation, value) in operations {
            switch operation {
            case .set:
                guard let value else { return .failure(ConfigChangeError(.invalidRequest, "Null value not supported for : \(name)")) }
                result[name] = value
            case .delete:
                result.removeValue(forKey: name)
            case .append, .subtract:
                guard let setting = BrokerSettings.named(name), setting.key.type == .list else {
                    let verb = operation == .append ? "append" : "subtract"
                    return .failure(ConfigChangeError(.invalidConfig, "Config value \(verb) is not allowed for config key: \(name)"))
                }
                var list = ConfigKey.listElements(result[name] ?? setting.defaultValue ?? "").filter { !$0.isEmpty }
                for element in ConfigKey.listElements(value ?? "") {
                    if operation == .append {
                        if !list.contains(element) { list.append(element) }
                    } else if let index = list.firstIndex(of: element) {
                        list.remove(at: index)
                    }
                }
                result[name] = list.joined(separator: ",")
            }
        }
        return .success(result)
    }

    /// Stored values that are (no longer) acceptable are dropped with the reason, as Kafka
    /// ignores invalid dynamic configs it finds at start.
    public static func usable(_ stored: [String: String]) -> (kept: [String: String], dropped: [String: String]) {
        var kept: [String: String] = [:]
        var dropped: [String: String] = [:]
        for (name, value) in stored {
            if let error = validationError([name: value]) { dropped[name] = error.message } else { kept[name] = value }
        }
        return (kept, dropped)
    }

    /// Names as Scala prints a Set, which is how Kafka's messages list them.
    static func scalaSet(_ names: [String]) -> String {
        "Set(" + names.sorted().joined(separator: ", ") + ")"
    }
}

/// The broker's dynamic settings in force: validates a change, stores it, and hands the new
/// settings to whoever applies them (the topic registry re-resolves every topic's configs).
/// Changes are serialized, so two concurrent AlterConfigs cannot lose one another's values.
public final class BrokerConfigManager: Sendable {
    public let nodeId: Int32
    private let store: any DynamicConfigStore
    private let current: Mutex<BrokerConfig>
    private let changes = Mutex<Void>(())
    private let apply: @Sendable (BrokerConfig) -> Void

    public init(initial: BrokerConfig, nodeId: Int32, store: any DynamicConfigStore, apply: @escaping @Sendable (BrokerConfig) -> Void) {
        self.nodeId = nodeId
        self.store = store
        self.current = Mutex(initial)
        self.apply = apply
    }

    public var config: BrokerConfig { current.withLock { $0 } }

    /// Replaces a scope's dynamic values with what `change` makes of them; nil when done (or,
    /// with `validateOnly`, when it would be accepted).
    public func alter(_ scope: BrokerConfigScope, validateOnly: Bool,
                      change: ([String: String]) -> Result<[String: String], ConfigChangeError>) -> ConfigChangeError? {
        changes.withLock { _ -> ConfigChangeError? in
            let before = config
            let stored = scope == .clusterDefault ? before.dynamicDefaults : before.dynamicValues
            let updated: [String: String]
            switch change(stored) {
            case .failure(let error): return error
            case .success(let values): updated = values
            }
            if let error = DynamicBrokerConfigs.validationError(updated) { return error }
            if validateOnly { return nil }
            do {
                try store.save(updated, for: scope)
            } catch {
                return ConfigChangeError(.kafkaStorageError, "cannot store the broker configs: \(error)")
            }
            let next = scope == .clusterDefault
                ? before.withDynamic(defaults: updated, values: before.dynamicValues)
                : before.withDynamic(defaults: before.dynamicDefaults, values: updated)
            current.withLock { $0 = next }
            apply(next)
            return nil
        }
    }
}
