// Plugin entry from C: fills the callback table that CShims/CGstMcvd forwards every vfunc through.
// Each callback finds the Swift McvdFilter behind the GstMcvd instance and calls it.
import CGStreamer
import CGstMcvd

@inline(__always) private func filter(_ impl: UnsafeMutableRawPointer?) -> McvdFilter {
    Unmanaged<McvdFilter>.fromOpaque(impl!).takeUnretainedValue()
}

@inline(__always) private func filter(parent: UnsafeMutablePointer<GstObject>?) -> McvdFilter {
    filter(gst_mcvd_impl(parent))
}

@_cdecl("gst_mcvd_swift_install")
public func gstMcvdSwiftInstall(_ table: UnsafeMutablePointer<GstMcvdCallbacks>) {
    table.pointee.create = { element in
        UnsafeMutableRawPointer(Unmanaged.passRetained(McvdFilter(element!)).toOpaque())
    }
    table.pointee.destroy = { impl in Unmanaged<McvdFilter>.fromOpaque(impl!).release() }
    table.pointee.set_property = { impl, id, value in filter(impl).setProperty(id, value!) }
    table.pointee.get_property = { impl, id, value in filter(impl).getProperty(id, value!) }
    table.pointee.state_before = { impl, transition in filter(impl).stateBefore(transition) ? 1 : 0 }
    table.pointee.state_after = { impl, transition in filter(impl).stateAfter(transition) }
    table.pointee.chain = { _, parent, buffer in filter(parent: parent).chain(buffer!) }
    table.pointee.sink_event = { pad, parent, event in filter(parent: parent).sinkEvent(pad!, parent, event!) ? 1 : 0 }
    table.pointee.src_event = { pad, parent, event in filter(parent: parent).srcEvent(pad!, parent, event!) ? 1 : 0 }
    table.pointee.sink_query = { pad, parent, query in filter(parent: parent).sinkQuery(pad!, parent, query!) ? 1 : 0 }
    table.pointee.src_query = { pad, parent, query in filter(parent: parent).srcQuery(pad!, parent, query!) ? 1 : 0 }
}

/// Registers the mcvd plugin in this process (tests and apps that link the library directly).
public func registerMcvdPlugin() -> Bool { gst_mcvd_register_static() != 0 }
