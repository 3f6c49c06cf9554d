import CDNNL
import Foundation
import FusionTensor

/// A oneDNN call that failed: which call and oneDNN's status.
public struct OneDNNError: Error, CustomStringConvertible {
    /// The call that failed.
    public let call: String
    /// oneDNN's status code.
    public let status: dnnl_status_t
    /// `oneDNN <call>: <status>`.
    public var description: String { "oneDNN \(call): \(String(cString: dnnl_status2str(status)))" }
}

/// Throws unless `status` is success.
func check(_ status: dnnl_status_t, _ call: String) throws {
    guard status == dnnl_success else { throw OneDNNError(call: call, status: status) }
}

/// The CPU engine and stream every int8 kernel runs on, and the thread count oneDNN's OpenMP
/// runtime uses (kept equal to `Threading.threads`, FusionLab's own setting).
final class OneDNNRuntime: @unchecked Sendable {
    let engine: dnnl_engine_t
    let stream: dnnl_stream_t
    private let setThreadCount: (@convention(c) (Int32) -> Void)?

    private init() throws {
        var engine: dnnl_engine_t?
        try check(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine_create")
        guard let engine else { throw OneDNNError(call: "engine_create", status: dnnl_runtime_error) }
        var stream: dnnl_stream_t?
        try check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "stream_create")
        guard let stream else { throw OneDNNError(call: "stream_create", status: dnnl_runtime_error) }
        self.engine = engine
        self.stream = stream
        // libdnnl runs on libgomp; its thread count is set through the OpenMP API, found at run
        // time so that FusionLab does not link libgomp itself.
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "omp_set_num_threads") {
            setThreadCount = unsafeBitCast(symbol, to: (@convention(c) (Int32) -> Void).self)
        } else {
            setThreadCount = nil
        }
    }

    /// Makes oneDNN's parallel regions started by the calling thread use `Threading.threads`
    /// threads (OpenMP's setting is per thread, so it is set on every call; it is cheap).
    func matchThreads() {
        setThreadCount?(Int32(Threading.threads))
    }

    private static let created: Result<OneDNNRuntime, Error> = Result { try OneDNNRuntime() }

    /// The runtime, created on first use.
    static func shared() throws -> OneDNNRuntime { try created.get() }
}

/// A plain (row-major) memory descriptor of `dims` with the given element type and layout tag.
func memoryDescriptor(_ dims: [Int], _ type: dnnl_data_type_t, _ tag: dnnl_format_tag_t) throws -> dnnl_memory_desc_t {
    var md = dnnl_memory_desc_t()
    let d = dims.map { Int64($0) }
    try check(dnnl_memory_desc_init_by_tag(&md, Int32(d.count), d, type, tag), "memory_desc_init_by_tag \(dims)")
    return md
}

/// A primitive with its descriptor; destroyed with the object.
final class Primitive {
    let descriptor: dnnl_primitive_desc_t
    let primitive: dnnl_primitive_t

    /// Creates the primitive of `descriptor` (taking ownership of it).
    init(_ descriptor: dnnl_primitive_desc_t) throws {
        var primitive: dnnl_primitive_t?
        let status = dnnl_primitive_create(&primitive, descriptor)
        guard status == dnnl_success, let primitive else {
            dnnl_primitive_desc_destroy(descriptor)
            throw OneDNNError(call: "primitive_create", status: status)
        }
        self.descriptor = descriptor
        self.primitive = primitive
    }

    /// A reorder (layout change and/or type conversion) from `source` to `target`:
    /// `target = scale · (source − sourceZeroPoint) + zeroPoint` (f32 → u8 rounds to nearest and saturates).
    convenience init(reorder source: dnnl_memory_desc_t, to target: dnnl_memory_desc_t, scale: Float? = nil, zeroPoint: Int32 = 0,
                     sourceZeroPoint: Int32 = 0, runtime: OneDNNRuntime) throws {
        var attr: dnnl_primitive_attr_t?
        try check(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
        defer { dnnl_primitive_attr_destroy(attr) }
        if let scale {
            var s = scale
            try check(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &s), "attr_set_output_scales")
        }
        if zeroPoint != 0 {
            var zp = zeroPoint
            try check(dnnl_primitive_attr_set_zero_points(attr, Argument.destination, 1, 0, &zp), "attr_set_zero_points")
        }
        if sourceZeroPoint != 0 {
            var zp = sourceZeroPoint
            try check(dnnl_primitive_attr_set_zero_points(attr, Argument.source, 1, 0, &zp), "attr_set_zero_points")
        }
        var pd: dnnl_primitive_desc_t?
        var src = source, dst = target
        try check(dnnl_reorder_primitive_desc_create(&pd, &src, runtime.engine, &dst, runtime.engine, attr), "reorder_primitive_desc_create")
        guard let pd else { throw OneDNNError(call: "reorder_primitive_desc_create", status: dnnl_runtime_error) }
        try self.init(pd)
    }

    /// The memory descriptor the primitive chose for `what` (weights, source or destination).
    func memory(_ what: dnnl_query_t) throws -> dnnl_memory_desc_t {
        guard let md = dnnl_primitive_desc_query_md(descriptor, what, 0) else {
            throw OneDNNError(call: "primitive_desc_query_md", status: dnnl_runtime_error)
        }
        return md.pointee
    }

    /// oneDNN's name for the implementation it picked (`jit:avx2`, `brg:avx512_core_vnni`, `ref:any`…).
    var implementation: String {
        var name: UnsafePointer<CChar>?
        guard dnnl_primitive_desc_query(descriptor, dnnl_query_impl_info_str, 0, &name) == dnnl_success, let name else { return "?" }
        return String(cString: name)
    }

    /// Runs the primitive on buffers given by argument index, and waits for it.
    func execute(_ arguments: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)], runtime: OneDNNRuntime) throws {
        var memories: [dnnl_memory_t] = []
        defer { for m in memories { dnnl_memory_destroy(m) } }
        var args: [dnnl_exec_arg_t] = []
        for (index, descriptor, pointer) in arguments {
            var md = descriptor
            var memory: dnnl_memory_t?
            try check(dnnl_memory_create(&memory, &md, runtime.engine, pointer), "memory_create")
            guard let memory else { throw OneDNNError(call: "memory_create", status: dnnl_runtime_error) }
            memories.append(memory)
            args.append(dnnl_exec_arg_t(arg: index, memory: memory))
        }
        try check(dnnl_primitive_execute(primitive, runtime.stream, Int32(args.count), args), "primitive_execute")
        try check(dnnl_stream_wait(runtime.stream), "stream_wait")
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        dnnl_primitive_desc_destroy(descriptor)
    }
}

/// The argument indices of oneDNN's execute calls.
enum Argument {
    static let source = fusionlab_dnnl_arg_src()
    static let destination = fusionlab_dnnl_arg_dst()
    static let weights = fusionlab_dnnl_arg_weights()
    static let bias = fusionlab_dnnl_arg_bias()
}

/// Bytes a memory descriptor spans (including any compensation oneDNN appends to weights).
func byteSize(_ md: dnnl_memory_desc_t) -> Int {
    var m = md
    return dnnl_memory_desc_get_size(&m)
}

/// Raw memory of `bytes` bytes, aligned for SIMD, freed with the object.
final class AlignedBuffer {
    let pointer: UnsafeMutableRawPointer
    let bytes: Int
    init(bytes: Int) {
        self.bytes = bytes
        pointer = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(bytes, 1), alignment: 64)
    }
    deinit { pointer.deallocate() }
}
