import DewpointCore
import DewpointPipeline

/// stderr, unbuffered enough for diagnostics.
nonisolated(unsafe) let stderrWriter = FDWriter(fd: 2, bufferSize: 4096)
let stderrLock = Lock()
