/// One listener: Kafka's `NAME://host:port` (a plain `host:port`, Sluice's older form, is the
/// PLAINTEXT listener). An empty host means every interface.
public struct ListenerEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var host: String
    public var port: Int

    public init(name: String, host: String, port: Int) {
        self.name = name
        self.host = host
        self.port = port
    }

    public var description: String { "\(name)://\(host):\(port)" }

    /// Parses a `listeners` or `advertised.listeners` value by Kafka's rules: a comma list,
    /// names upper-cased, each name once.
    public static func parseList(_ text: String, setting: String) throws -> [ListenerEndpoint] {
        var endpoints: [ListenerEndpoint] = []
        for raw in text.split(separator: ",") {
            let item = raw.trimmingWhitespace()
            guard !item.isEmpty else { continue }
            let endpoint: ListenerEndpoint
            if let separator = item.firstRange(of: "://") {
                let name = String(item[..<separator.lowerBound]).uppercased()
                guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                    throw ConfigError("Invalid value \(text) for configuration \(setting): listener name '\(name)' is not valid")
                }
                endpoint = try parseHostPort(String(item[separator.upperBound...]), name: name, text: text, setting: setting)
            } else {
                endpoint = try parseHostPort(item, name: "PLAINTEXT", text: text, setting: setting)
            }
            if endpoints.contains(where: { $0.name == endpoint.name }) {
                throw ConfigError("Invalid value \(text) for configuration \(setting): Each listener must have a different name, "
                                  + "listeners: \(text)")
            }
            endpoints.append(endpoint)
        }
        return endpoints
    }

    public static func parseHostPort(_ text: String, name: String, text whole: String, setting: String) throws -> ListenerEndpoint {
        // [ipv6]:port, host:port, or :port.
        let host: String, portText: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw invalid(whole, setting, "missing port in '\(text)'") }
            portText = rest.dropFirst()
        } else if let colon = text.lastIndex(of: ":") {
            host = String(text[..<colon])
            portText = text[text.index(after: colon)...]
        } else {
            throw invalid(whole, setting, "missing port in '\(text)'")
        }
        guard let port = Int(portText), (0...65535).contains(port) else { throw invalid(whole, setting, "bad port in '\(text)'") }
        return ListenerEndpoint(name: name, host: host, port: port)
    }

    static func invalid(_ text: String, _ setting: String, _ why: String) -> ConfigError {
        ConfigError("Invalid value \(text) for configuration \(setting): \(why)")
    }
}

/// A member of `controller.quorum.voters`: `id@host:port`.
public struct QuorumVoter: Sendable, Equatable, CustomStringConvertible {
    public var id: Int32
    public var host: String
    public var port: Int

    public init(id: Int32, host: String, port: Int) {
        self.id = id
        self.host = host
        self.port = port
    }

    public var description: String { "\(id)@\(host):\(port)" }

    public static func parseList(_ text: String) throws -> [QuorumVoter] {
        var voters: [QuorumVoter] = []
        for raw in text.split(separator: ",") {
            let item = raw.trimmingWhitespace()
            guard !item.isEmpty else { continue }
            guard let at = item.firstIndex(of: "@"), let id = Int32(item[..<at]), id >= 0 else {
                throw ConfigError("Invalid value \(text) for configuration controller.quorum.voters: "
                                  + "'\(item)' is not of the form {id}@{host}:{port}")
            }
            let endpoint = try ListenerEndpoint.parseHostPort(String(item[item.index(after: at)...]), name: "CONTROLLER",
                                                              text: text, setting: "controller.quorum.voters")
            guard !endpoint.host.isEmpty, endpoint.port > 0 else {
                throw ConfigError("Invalid value \(text) for configuration controller.quorum.voters: '\(item)' needs a host and a port")
            }
            if voters.contains(where: { $0.id == id }) {
                throw ConfigError("Invalid value \(text) for configuration controller.quorum.voters: voter \(id) is listed twice")
            }
            voters.append(QuorumVoter(id: id, host: endpoint.host, port: endpoint.port))
        }
        return voters
    }
}

/// What `process.roles` may hold.
public enum ProcessRole: String, Sendable, Hashable, CaseIterable {
    case broker, controller
}

/// The settings that make a node part of a cluster, parsed and checked together by the rules
/// of Kafka's KafkaConfig: `node.id`, `process.roles`, `controller.quorum.voters`, `listeners`,
/// `controller.listener.names`, `advertised.listeners`, `broker.rack`. With no voters the node
/// is Sluice's embedded single broker, its own controller, as before.
public struct ClusterSettings: Sendable, Equatable {
    public var nodeId: Int32
    public var roles: Set<ProcessRole>
    public var voters: [QuorumVoter]
    public var listeners: [ListenerEndpoint]
    public var controllerListenerNames: [String]
    public var advertisedListeners: [ListenerEndpoint]
    public var rack: String?
    /// Every listener's security protocol (`listener.security.protocol.map`; a controller
    /// listener it leaves out is PLAINTEXT, as in Kafka's KRaft mode).
    public var securityProtocols: [String: SecurityProtocol] = [:]
    /// The listener brokers reach each other on: `inter.broker.listener.name`, else the one named
    /// after `security.inter.broker.protocol`, else the first listener for clients.
    public var interBrokerListenerName: String?

    /// A quorum was configured: this node is one of several.
    public var isClustered: Bool { !voters.isEmpty }

    /// The listeners clients (and other brokers) connect to: all but the controller's.
    public var brokerListeners: [ListenerEndpoint] {
        listeners.filter { !controllerListenerNames.contains($0.name) }
    }

    /// Where other brokers reach this one (replication, transaction markers), and the endpoint
    /// a broker registers first.
    public var interBrokerListener: ListenerEndpoint? {
        brokerListeners.first { $0.name == interBrokerListenerName } ?? brokerListeners.first
    }

    public func securityProtocol(of listener: String) -> SecurityProtocol {
        securityProtocols[listener] ?? .plaintext
    }

    /// Where the quorum's voters reach this node.
    public var controllerListener: ListenerEndpoint? {
        listeners.first { controllerListenerNames.contains($0.name) }
    }

    public static func resolve(_ config: BrokerConfig) throws -> ClusterSettings {
        guard let nodeId = Int32(exactly: config.int("node.id")) else { throw ConfigError("node.id is out of range") }
        var roles = Set<ProcessRole>()
        for raw in config.string("process.roles").split(separator: ",") {
            let name = raw.trimmingWhitespace().lowercased()
            guard !name.isEmpty else { continue }
            guard let role = ProcessRole(rawValue: name) else {
                throw ConfigError("Invalid value \(config.string("process.roles")) for configuration process.roles: "
                                  + "Unknown process role '\(name)' (valid: broker, controller)")
            }
            guard roles.insert(role).inserted else {
                throw ConfigError("Invalid value \(config.string("process.roles")) for configuration process.roles: "
                                  + "Duplicate role names found in `process.roles`")
            }
        }
        let voters = try QuorumVoter.parseList(config.string("controller.quorum.voters"))
        let listeners = try ListenerEndpoint.parseList(config.string("listeners"), setting: "listeners")
        let controllerNames = config.string("controller.listener.names").split(separator: ",")
            .map { $0.trimmingWhitespace().uppercased() }.filter { !$0.isEmpty }
        let advertised = try ListenerEndpoint.parseList(config.string("advertised.listeners"), setting: "advertised.listeners")
        let rackText = config.string("broker.rack").trimmingWhitespace()
        var settings = ClusterSettings(nodeId: nodeId, roles: roles, voters: voters, listeners: listeners,
                                       controllerListenerNames: controllerNames, advertisedListeners: advertised,
                                       rack: rackText.isEmpty ? nil : rackText)
        let map = try SecurityProtocol.parseMap(config.string("listener.security.protocol.map"))
        for listener in listeners {
            settings.securityProtocols[listener.name] = map[listener.name] ?? (controllerNames.contains(listener.name) ? .plaintext : nil)
        }
        let named = config.string("inter.broker.listener.name").trimmingWhitespace().uppercased()
        if !named.isEmpty {
            settings.interBrokerListenerName = named
        } else {
            let byProtocol = config.string("security.inter.broker.protocol")
            settings.interBrokerListenerName = settings.brokerListeners.first { $0.name == byProtocol }?.name
        }
        try settings.validate()
        // After the role checks, whose messages say more about a misnamed controller listener.
        for listener in listeners where settings.securityProtocols[listener.name] == nil {
            throw ConfigError("No security protocol defined for listener \(listener.name) "
                              + "(listener.security.protocol.map=\(config.string("listener.security.protocol.map")))")
        }
        return settings
    }

    /// Kafka's cross-setting rules, with its messages where it has them.
    func validate() throws {
        if let named = interBrokerListenerName, !brokerListeners.isEmpty, !brokerListeners.contains(where: { $0.name == named }) {
            throw ConfigError("inter.broker.listener.name must be a listener name defined in listeners: \(named) is not among "
                              + "\(brokerListeners.map(\.name))")
        }
        guard isClustered else {
            if !roles.isEmpty {
                throw ConfigError("process.roles=\(roles.map(\.rawValue).sorted().joined(separator: ",")) needs "
                                  + "controller.quorum.voters; leave both unset for a single broker")
            }
            return
        }
        guard !roles.isEmpty else {
            throw ConfigError("controller.quorum.voters is set, so process.roles must say what this node is (broker, controller or both)")
        }
        let voterIds = voters.map(\.id)
        if roles.contains(.controller) {
            guard voterIds.contains(nodeId) else {
                throw ConfigError("If process.roles contains the 'controller' role, the node id \(nodeId) must be included in "
                                  + "the set of voters controller.quorum.voters=\(voterIds.sorted())")
            }
            guard !controllerListenerNames.isEmpty else {
                throw ConfigError("controller.listener.names must contain at least one value when running KRaft with just the controller role")
            }
            for name in controllerListenerNames where !listeners.contains(where: { $0.name == name }) {
                throw ConfigError("controller.listener.names must contain at least one value appearing in the 'listeners' "
                                  + "configuration when running the KRaft controller role: \(name) is not among "
                                  + "\(listeners.map(\.name))")
            }
        } else {
            guard !voterIds.contains(nodeId) else {
                throw ConfigError("If process.roles contains just the 'broker' role, the node id \(nodeId) must not be included "
                                  + "in the set of voters controller.quorum.voters=\(voterIds.sorted())")
            }
            for listener in listeners where controllerListenerNames.contains(listener.name) {
                throw ConfigError("controller.listener.names must not contain a value appearing in the 'listeners' configuration "
                                  + "when running KRaft with just the broker role: \(listener.name)")
            }
        }
        if roles.contains(.broker) {
            guard let interBroker = interBrokerListener else {
                throw ConfigError("listeners must name a listener for clients besides controller.listener.names=\(controllerListenerNames)")
            }
            // Brokers' own connections to each other (fetchers, markers) do not log in yet.
            guard securityProtocol(of: interBroker.name) == .plaintext else {
                throw ConfigError("the inter-broker listener \(interBroker.name) uses \(securityProtocol(of: interBroker.name).rawValue), "
                                  + "but Sluice brokers reach each other over PLAINTEXT only so far: name a PLAINTEXT listener in "
                                  + "inter.broker.listener.name")
            }
        } else if let extra = listeners.first(where: { !controllerListenerNames.contains($0.name) }) {
            throw ConfigError("The listeners config must only contain KRaft controller listeners from controller.listener.names "
                              + "when process.roles=controller: \(extra.name) is not one")
        }
        for name in controllerListenerNames where securityProtocol(of: name) != .plaintext {
            throw ConfigError("the controller listener \(name) must be PLAINTEXT in Sluice so far (it is \(securityProtocol(of: name).rawValue))")
        }
        for listener in advertisedListeners where controllerListenerNames.contains(listener.name) {
            throw ConfigError("advertised.listeners cannot contain the controller listener \(listener.name)")
        }
        for listener in advertisedListeners where listener.host == "0.0.0.0" || listener.host == "::" {
            throw ConfigError("advertised.listeners cannot use the nonroutable meta-address \(listener.host). "
                              + "Use a routable IP address.")
        }
    }
}
