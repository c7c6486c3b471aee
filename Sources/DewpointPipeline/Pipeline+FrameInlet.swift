import DewpointCore

/// A recording's reader hands frames straight to the pipeline (replay: one thread, no lock).
extension Pipeline: FrameInlet {
    public func frame(binding: Int, payload: UnsafeRawBufferPointer, arrivalNs: Int64) {
        ingest(binding: binding, payload: payload, arrivalNs: arrivalNs)
    }
    public func message(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, arrivalNs: Int64) {
        ingestMQTT(topic: topic, payload: payload, arrivalNs: arrivalNs)
    }
    public func endOfBatch() { flush() }
}
