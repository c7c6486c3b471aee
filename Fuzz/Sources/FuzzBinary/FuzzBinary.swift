import FuzzDriver
import DewpointCore
import DewpointDecode

/// Binary layouts: every type, word orders, bit fields, arrays and a conditional layout, on
/// frames of any length; and the same layout behind Modbus/TCP.
func field(_ o: Int, _ k: BinaryField.Kind, _ e: BinaryField.Endian = .big, _ w: BinaryField.WordOrder? = nil) -> BinaryField {
    BinaryField(offset: o, kind: k, endian: e, wordOrder: w)
}
nonisolated(unsafe) let decoder: FrameDecoder = {
    var bits = field(2, .i16)
    bits.bitOffset = 3; bits.bitWidth = 7
    var cond = field(1, .f64, .little)
    cond.whenOffset = 0; cond.whenEquals = 7
    let fields: [BinaryField] = [field(0, .u8), field(1, .i8), field(2, .u16, .little), field(3, .i32, .big, .cdab), field(4, .f16),
                                 field(5, .f32, .big, .badc), field(6, .u64, .big, .dcba), field(7, .i64), bits, cond,
                                 BinaryField(offset: 8, kind: .i16, count: 8, stride: 3, sampleRateHz: 100)]
    return try! FrameDecoder(binding: BindingSpec(name: "f", transport: .file, decoder: .binary,
                                                  channels: fields.enumerated().map { ChannelSpec(name: "c\($0.offset)", locator: .binary($0.element)) }))
}()
/// Modbus/TCP segments (several ADUs, requests remembered across inputs) with the same layout.
nonisolated(unsafe) let modbus: FrameDecoder = {
    var b = decoder.binding
    b.decoder = .modbusTCP(unit: 1, function: 3, address: 0)
    return try! FrameDecoder(binding: b)
}()
nonisolated(unsafe) var values = [Float](repeating: 0, count: max(decoder.maxRows * decoder.channelCount, modbus.maxRows * modbus.channelCount))

func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buf = UnsafeRawBufferPointer(start: data, count: size)
    values.withUnsafeMutableBufferPointer { v in
        _ = try? decoder.decodeRows(buf, arrivalNs: 0, into: v)
        _ = try? modbus.decodeRows(buf, arrivalNs: 0, into: v)
        modbus.trailingError = nil
    }
    return 0
}

@main
struct Entry {
    static func main() { runFuzzer { fuzzOne($0!, $1) } }
}
