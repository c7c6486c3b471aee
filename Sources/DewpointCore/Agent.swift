import Logging

/// The typed model of the agent file (`dewpoint.yaml`).
public struct AgentSpec: Sendable, Equatable {
    public var agentId: String
    /// Directory holding the device bindings, resolved against the agent file's folder.
    public var devicesDir: String
    public var logLevel: Logger.Level
    public var spool: SpoolSpec
    public var input: BrokerSpec
    public var upstream: UpstreamSpec
    public var queue: QueueSpec
    /// Window settings used by bindings that do not set their own.
    public var defaultWindow: WindowSpec
    /// `metrics:`: the ways out for the agent's metrics (all off by default).
    public var metrics = MetricsSpec()

    public init(agentId: String, devicesDir: String = "devices", logLevel: Logger.Level = .info,
                spool: SpoolSpec = SpoolSpec(), input: BrokerSpec = BrokerSpec(mqttVersion: 5, batchWaitMs: 1),
                upstream: UpstreamSpec = UpstreamSpec(), queue: QueueSpec = QueueSpec(),
                defaultWindow: WindowSpec = WindowSpec()) {
        self.agentId = agentId; self.devicesDir = devicesDir; self.logLevel = logLevel; self.spool = spool
        self.input = input; self.upstream = upstream; self.queue = queue; self.defaultWindow = defaultWindow
    }
}

/// `metrics:` in the agent file.
public struct MetricsSpec: Sendable, Equatable {
    /// `metrics.listen`: serve `/metrics` (Prometheus text) and `/healthz` over HTTP here.
    public var listen: ListenSpec? = nil
    /// `metrics.textfile`: write the metrics to this file (node_exporter's textfile collector),
    /// replaced atomically every interval.
    public var textfile: String? = nil
    /// `metrics.interval`: how often the metrics are gathered from the pipeline and the textfile
    /// is written.
    public var intervalMs: Int64 = 10_000
    /// `metrics.mqtt`: every interval, publish the retained status with the agent's vitals and a
    /// metrics record upstream (see records.md).
    public var mqtt = false
    public init() {}
    public var enabled: Bool { listen != nil || textfile != nil || mqtt }
}

public struct SpoolSpec: Sendable, Equatable {
    public var dir: String
    public var maxBytes: Int64
    /// `spool.commit_interval`: how often the pipeline's state is checkpointed (with the records
    /// it produced) when nothing else commits sooner, and how long input acknowledgements wait
    /// for that commit (`input.ack: after_commit`). It bounds what a kill -9 can lose of a serial,
    /// capture or socket source, which cannot resend.
    public var commitIntervalMs: Int64 = 500
    /// `spool.on_stop`: what a stop does with open windows.
    public var onStop: StopBehaviour = .checkpoint
    public init(dir: String = "/var/lib/dewpoint", maxBytes: Int64 = 64 << 20) { self.dir = dir; self.maxBytes = maxBytes }
}

/// What the agent does with open windows when it stops.
public enum StopBehaviour: String, Sendable, Equatable, CaseIterable {
    /// Checkpoint them, so that the next start continues the same windows (one summary each).
    case checkpoint
    /// Emit them as partial summaries (and checkpoint the rest of the state): each stop splits
    /// the windows it interrupts into two summaries.
    case flush = "partial_summaries"
}

/// When the MQTT input acknowledges a QoS 1 or 2 message (`input.ack`).
public enum AckPolicy: String, Sendable, Equatable, CaseIterable {
    /// Once the state it produced is committed: a crash makes the broker resend what was lost.
    case afterCommit = "after_commit"
    /// On receipt, as soon as it is read: a crash loses up to one commit interval of it.
    case onReceipt = "on_receipt"
}

public struct BrokerSpec: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var clientId: String?
    public var username: String?
    /// Passwords come from a file or an environment variable, never from the YAML itself.
    public var passwordFile: String?
    public var passwordEnv: String?
    public var tls: TLSSpec?
    public var mqttVersion: Int
    public var keepaliveS: Int
    /// Input only (`input.batch_wait`): how long the network thread sleeps after a pass that read
    /// only a few messages, so that the next pass reads a batch. 0 wakes once per message.
    public var batchWaitMs: Int64
    /// Input only (`input.batch_min`): the fewest messages a linger must be expected to gather
    /// (from the recent arrival rate) for the network thread to linger at all (`BatchPacer`).
    public var batchMin = BatchPacer.defaultMinBatch
    /// Input only (`input.read_buffer`): libmosquitto's reads served from a buffer of the network
    /// thread (see the MQTT README). Off by default.
    public var readBuffer = false
    /// Input only (`input.ack`).
    public var ack: AckPolicy = .afterCommit
    public init(host: String = "127.0.0.1", port: Int = 1883, clientId: String? = nil, username: String? = nil,
                passwordFile: String? = nil, passwordEnv: String? = nil, tls: TLSSpec? = nil, mqttVersion: Int = 4,
                keepaliveS: Int = 30, batchWaitMs: Int64 = 0) {
        self.host = host; self.port = port; self.clientId = clientId; self.username = username
        self.passwordFile = passwordFile; self.passwordEnv = passwordEnv; self.tls = tls
        self.mqttVersion = mqttVersion; self.keepaliveS = keepaliveS; self.batchWaitMs = batchWaitMs
    }
}

public struct TLSSpec: Sendable, Equatable {
    public var caFile: String
    public var certFile: String?
    public var keyFile: String?
    public init(caFile: String, certFile: String? = nil, keyFile: String? = nil) {
        self.caFile = caFile; self.certFile = certFile; self.keyFile = keyFile
    }
}

public struct UpstreamSpec: Sendable, Equatable {
    public var broker: BrokerSpec
    /// Topic prefix: records go to `<prefix>/<agent>/<device>/summary` and so on.
    public var topicPrefix: String
    public var qos: Int
    public var maxInflight: Int
    /// Topic templates with `{prefix}`, `{agent}` and `{device}` placeholders.
    public var summaryTopic: String = "{prefix}/{agent}/{device}/summary"
    public var alertTopic: String = "{prefix}/{agent}/{device}/alert"
    public var statusTopic: String = "{prefix}/{agent}/status"
    /// How records travel: Dewpoint's JSON (`docs/records.md`), or Sparkplug B.
    public var format: UpstreamFormatKind = .json
    /// Sparkplug B: the group id, and the edge node id (the agent id when nil).
    public var sparkplugGroup = "dewpoint"
    public var sparkplugNode: String? = nil
    /// Announcements for a platform that discovers devices (Home Assistant), beside the JSON format.
    public var discovery: DiscoveryKind = .none
    /// Home Assistant: the discovery prefix, and the statistic of a summary a sensor shows.
    public var homeAssistantPrefix = "homeassistant"
    public var homeAssistantStatistic = "mean"
    public init(broker: BrokerSpec = BrokerSpec(), topicPrefix: String = "dewpoint", qos: Int = 1, maxInflight: Int = 32) {
        self.broker = broker; self.topicPrefix = topicPrefix; self.qos = qos; self.maxInflight = maxInflight
    }
}

public enum UpstreamFormatKind: String, Sendable, Equatable, CaseIterable {
    case json
    case sparkplugB = "sparkplug_b"
}

public enum DiscoveryKind: String, Sendable, Equatable, CaseIterable {
    case none
    case homeassistant
}

public enum OverflowPolicy: String, Sendable, Equatable, CaseIterable {
    /// The producer waits for room (the source slows down; the broker or the device buffers).
    case block
    /// The oldest queued frame is dropped and counted.
    case dropOldest = "drop_oldest"
    /// The new frame is dropped and counted.
    case dropNewest = "drop_newest"
}

public struct QueueSpec: Sendable, Equatable {
    public var capacity: Int
    public var overflow: OverflowPolicy
    public init(capacity: Int = 8192, overflow: OverflowPolicy = .dropOldest) {
        self.capacity = capacity; self.overflow = overflow
    }
}
