// The worker thread of method=diffusion in mode=interpolate: the streaming thread queues each gap's job (its
// model call and the pushes of its slots) and goes back upstream for the next frame; one worker runs the
// jobs in order, so the model overlaps with upstream (decoding the next frames) and the pushes of earlier
// gaps with downstream. Ownership: while jobs are queued or running, the output side of StreamState (grid,
// nextSlot, outOffset, discontPending) is the worker's; the streaming thread touches it only after
// waitIdle(). A flush (FLUSH_START, PAUSED -> READY) discards queued jobs, cancels the running model call
// (CancelFlag, polled between sampler steps) and wakes a streaming thread waiting for room or idleness.
import CGStreamer
import Glibc
import Synchronization

/// Set while the element flushes or stops: the running model call gives up between steps.
final class CancelFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set(_ v: Bool) { value.store(v, ordering: .releasing) }
}

/// Thrown out of a model call when the CancelFlag is set (a flush, not an error).
struct Cancelled: Error {}

final class DiffusionWorker: @unchecked Sendable {
    /// A queued job: run (true) or only release what it holds (false: discarded by a flush or after an
    /// earlier job's flow error). It returns the flow of its pushes.
    typealias Job = (_ run: Bool) -> GstFlowReturn

    /// Jobs that may wait in the queue: the streaming thread blocks beyond that (backpressure).
    let capacity: Int
    let cancel: CancelFlag
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Guarded by `mutex`:
    private var jobs: [Job] = []
    private var busy = false
    private var flushing = false
    private var stopping = false
    /// The first flow error of a job (not-linked, flushing, EOS, error): returned by the next submit.
    private var flow = GST_FLOW_OK
    private var thread = pthread_t()
    private var started = false

    init(capacity: Int = 2, cancel: CancelFlag) {
        self.capacity = capacity
        self.cancel = cancel
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
    }

    deinit {
        stop()
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        cond.deallocate()
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    /// Queues a job (streaming thread); starts the thread on first use. Blocks while the queue is full.
    /// When flushing, or after a job's flow error, the job is released unrun and that flow is returned.
    func submit(_ job: @escaping Job) -> GstFlowReturn {
        pthread_mutex_lock(mutex)
        if !started {
            let box = Unmanaged.passRetained(self).toOpaque()
            guard pthread_create(&thread, nil, { arg in
                let worker = Unmanaged<DiffusionWorker>.fromOpaque(arg!).takeRetainedValue()
                worker.loop()
                return nil
            }, box) == 0 else {
                Unmanaged<DiffusionWorker>.fromOpaque(box).release()
                pthread_mutex_unlock(mutex)
                _ = job(true)  // no thread: run it here (same order, no overlap)
                return GST_FLOW_OK
            }
            started = true
        }
        while jobs.count >= capacity && !flushing && flow == GST_FLOW_OK { pthread_cond_wait(cond, mutex) }
        let refuse: GstFlowReturn? = flushing ? GST_FLOW_FLUSHING : (flow != GST_FLOW_OK ? flow : nil)
        if refuse == nil {
            jobs.append(job)
            pthread_cond_broadcast(cond)
        }
        pthread_mutex_unlock(mutex)
        if let refuse { _ = job(false); return refuse }
        return GST_FLOW_OK
    }

    /// Waits until every queued job has run (streaming thread, before it touches the output side or
    /// forwards a serialized event); returns the first flow error of those jobs, or FLUSHING.
    func waitIdle() -> GstFlowReturn {
        locked {
            while !jobs.isEmpty || busy { pthread_cond_wait(cond, mutex) }
            return flushing ? GST_FLOW_FLUSHING : flow
        }
    }

    /// FLUSH_START / PAUSED -> READY (true): discard the queue, cancel the running model call, wake
    /// waiters. FLUSH_STOP / a new run (false): accept jobs again with a clean flow.
    func setFlushing(_ on: Bool) {
        let dropped: [Job] = locked {
            flushing = on
            cancel.set(on)
            if !on { flow = GST_FLOW_OK }
            let d = on ? jobs : []
            if on { jobs = [] }
            pthread_cond_broadcast(cond)
            return d
        }
        for j in dropped { _ = j(false) }
    }

    /// Ends the thread (after discarding the queue) and joins it; a later submit starts a new one.
    func stop() {
        setFlushing(true)
        let join: Bool = locked {
            guard started else { return false }
            stopping = true
            pthread_cond_broadcast(cond)
            return true
        }
        if join { pthread_join(thread, nil) }
        locked { started = false; stopping = false }
    }

    private func loop() {
        pthread_mutex_lock(mutex)
        while true {
            while jobs.isEmpty && !stopping { pthread_cond_wait(cond, mutex) }
            if jobs.isEmpty { break }
            let job = jobs.removeFirst()
            let run = !flushing && flow == GST_FLOW_OK
            busy = true
            pthread_mutex_unlock(mutex)
            let ret = job(run)
            pthread_mutex_lock(mutex)
            busy = false
            if run && ret != GST_FLOW_OK && flow == GST_FLOW_OK { flow = ret }
            pthread_cond_broadcast(cond)
        }
        pthread_mutex_unlock(mutex)
    }
}
