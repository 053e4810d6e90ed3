/// One synonym of a described config: a setting that gives it a value, and at what level.
public struct ConfigSynonymDescription: Sendable, Equatable {
    public let name: String
    public let value: String?
    public let source: ConfigSource
}

/// One entry of a DescribeConfigs answer, as Kafka's ConfigHelper builds it.
public struct ConfigDescription: Sendable {
    public let name: String
    public let value: String?
    public let source: ConfigSource
    public let readOnly: Bool
    public let isSensitive: Bool
    public let type: ConfigType
    /// Every level that sets the value, highest first (the entry's source is the first's).
    public let synonyms: [ConfigSynonymDescription]
    public let documentation: String
}

/// DescribeConfigs' entries for topics and brokers, with Kafka's rules for sources and
/// synonyms: a topic config lists its override, then its broker synonyms with a value at each
/// level (this broker's dynamic values, the dynamic cluster default, static values, defaults),
/// dropping those ahead of the first broker synonym's own name, so a config whose first
/// synonym has no value anywhere (segment.ms with log.roll.ms unset) reports DEFAULT_CONFIG
/// and no synonyms even when log.roll.hours drives it.
public enum ConfigDescriptions {
    /// Every topic config (or those in `keys`) of a topic with these overrides.
    public static func topic(overrides: [String: String], broker: BrokerConfig, keys: Set<String>?) -> [ConfigDescription] {
        TopicConfigs.definitions.filter { keys?.contains($0.name) ?? true }.map { definition in
            let value = TopicConfigs.effectiveValue(definition.name, overrides: overrides, broker: broker)
            var synonyms: [ConfigSynonymDescription] = []
            if let override = overrides[definition.name] {
                synonyms.append(.init(name: definition.name, value: override, source: .topic))
            }
            if let primary = TopicConfigs.primaryBrokerSynonym(of: definition.name) {
                synonyms += brokerSynonyms(primary, in: broker)
            }
            return ConfigDescription(
                name: definition.name, value: value, source: synonyms.first?.source ?? .defaultConfig, readOnly: false,
                isSensitive: false, type: definition.key.type, synonyms: synonyms, documentation: definition.documentation)
        }
    }

    /// The configs CreateTopics v5+ answers with, as Kafka's controller computes them: sorted by
    /// name, each from the topic's configs, else the first level (this broker's dynamic values,
    /// the dynamic default, static values) that sets one of its broker synonyms, else the
    /// default in force.
    public static func createdTopic(overrides: [String: String], broker: BrokerConfig) -> [ConfigDescription] {
        TopicConfigs.definitions.sorted { $0.name < $1.name }.map { definition in
            var source = ConfigSource.defaultConfig
            if overrides[definition.name] != nil {
                source = .topic
            } else {
                let levels: [([String: String], ConfigSource)] = [
                    (broker.dynamicValues, .dynamicBroker), (broker.dynamicDefaults, .dynamicDefaultBroker), (broker.staticValues, .staticBroker),
                ]
                source = levels.first { values, _ in definition.brokerSynonyms.contains { values[$0.name] != nil } }?.1 ?? .defaultConfig
            }
            return ConfigDescription(
                name: definition.name, value: TopicConfigs.effectiveValue(definition.name, overrides: overrides, broker: broker),
                source: source, readOnly: false, isSensitive: false, type: definition.key.type, synonyms: [],
                documentation: definition.documentation)
        }
    }

    /// This broker's settings (resource name = its id): every setting Sluice knows with the
    /// value in force, plus names AlterConfigs stored that Sluice does not know.
    public static func broker(_ config: BrokerConfig, keys: Set<String>?) -> [ConfigDescription] {
        var entries = BrokerSettings.all.filter { keys?.contains($0.name) ?? true }.map { setting in
            let synonyms = brokerSynonyms(setting.name, in: config)
            // Kafka never returns a password's value, only that it is set.
            let sensitive = setting.key.type == .password
            return ConfigDescription(
                name: setting.name, value: sensitive ? nil : config.value(setting.name), source: synonyms.first?.source ?? .defaultConfig,
                readOnly: !setting.dynamic, isSensitive: sensitive, type: setting.key.type,
                synonyms: sensitive ? synonyms.map { .init(name: $0.name, value: nil, source: $0.source) } : synonyms,
                documentation: setting.help)
        }
        let unknown = Set(config.dynamicValues.keys).union(config.dynamicDefaults.keys).filter {
            BrokerSettings.named($0) == nil && (keys?.contains($0) ?? true)
        }
        entries += unknown.sorted().map { custom(name: $0, in: config, defaultsOnly: false) }
        return entries
    }

    /// The dynamic cluster default (resource name ""): only the settings set there.
    public static func brokerDefaults(_ config: BrokerConfig, keys: Set<String>?) -> [ConfigDescription] {
        config.dynamicDefaults.keys.sorted().filter { keys?.contains($0) ?? true }.map { name in
            guard let setting = BrokerSettings.named(name) else { return custom(name: name, in: config, defaultsOnly: true) }
            let synonyms = brokerSynonyms(name, in: config).filter { $0.source == .dynamicDefaultBroker }
            return ConfigDescription(
                name: name, value: config.dynamicDefaults[name], source: synonyms.first?.source ?? .defaultConfig,
                readOnly: !setting.dynamic, isSensitive: false, type: setting.key.type, synonyms: synonyms, documentation: setting.help)
        }
    }

    /// A name Kafka does not know, stored as Kafka stores custom settings: its type is unknown,
    /// so Kafka treats it as sensitive and shows no value.
    private static func custom(name: String, in config: BrokerConfig, defaultsOnly: Bool) -> ConfigDescription {
        var synonyms: [ConfigSynonymDescription] = []
        if !defaultsOnly, config.dynamicValues[name] != nil { synonyms.append(.init(name: name, value: nil, source: .dynamicBroker)) }
        if config.dynamicDefaults[name] != nil { synonyms.append(.init(name: name, value: nil, source: .dynamicDefaultBroker)) }
        return ConfigDescription(name: name, value: nil, source: synonyms.first?.source ?? .defaultConfig, readOnly: true,
                                 isSensitive: true, type: .unknown, synonyms: synonyms, documentation: "")
    }

    /// Kafka's configSynonyms: the setting's synonym group with a value at each level, highest
    /// level first, then everything ahead of `name` itself dropped.
    static func brokerSynonyms(_ name: String, in config: BrokerConfig) -> [ConfigSynonymDescription] {
        let group = BrokerSettings.synonyms(of: name)
        var all: [ConfigSynonymDescription] = []
        let levels: [([String: String], ConfigSource)] = [
            (config.dynamicValues, .dynamicBroker), (config.dynamicDefaults, .dynamicDefaultBroker),
            (config.staticValues, .staticBroker), (BrokerSettings.defaults, .defaultConfig),
        ]
        for (values, source) in levels {
            for synonym in group {
                if let value = values[synonym] { all.append(.init(name: synonym, value: value, source: source)) }
            }
        }
        return Array(all.drop { $0.name != name })
    }
}
