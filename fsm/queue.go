package fsm

// This file schedules steps: the queue, and the busy flag that makes one
// goroutine at a time the processor.

type op uint8

const (
	opEvent op = iota
	opStop
	opTaskFailed
	opStragglerReturned
)

type item struct {
	op op
	// fail marks a failure event: with parallel regions it is offered only
	// to the leaves below its scope (item.si).
	fail bool
	ev   int32
	// si and epoch stamp an item from a task or timer with the state entry
	// it reports on; epoch is 0 for events from outside, never stale.
	si      int32
	epoch   uint64
	id      uint64 // non-zero when the firer waits for the outcome
	payload any
	task    string
}

func (m *Machine[S, E]) enqueue(it item) {
	m.mu.Lock()
	if m.q == nil {
		m.q = new(queue)
	}
	m.q.items = append(m.q.items, it)
	m.qlen.Add(1)
	m.mu.Unlock()
}

// enqueueTracked enqueues it with a new id, for drainFor.
func (m *Machine[S, E]) enqueueTracked(it item) uint64 {
	m.mu.Lock()
	if m.q == nil {
		m.q = new(queue)
	}
	q := m.q
	q.nextID++
	it.id = q.nextID
	q.items = append(q.items, it)
	m.qlen.Add(1)
	m.mu.Unlock()
	return it.id
}

func (m *Machine[S, E]) dequeue() item {
	m.mu.Lock()
	q := m.q // not nil: qlen counted an item
	it := q.items[q.head]
	q.items[q.head] = item{}
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	m.qlen.Add(-1)
	m.mu.Unlock()
	return it
}

// kick makes sure queued events get processed without the caller doing it:
// callers inside the machine must not, as a transition may join them.
func (m *Machine[S, E]) kick() {
	if m.busy.CompareAndSwap(false, true) {
		go m.drain()
	}
}

// drain processes queued events until the queue is empty, then releases
// busy.
func (m *Machine[S, E]) drain() {
	for m.qlen.Load() > 0 || !m.release() {
		it := m.dequeue()
		_ = m.process(&it)
	}
}

// drainFor is drain for a firer that holds busy and whose event, with id,
// is queued: it returns that event's outcome.
func (m *Machine[S, E]) drainFor(id uint64) error {
	var err error
	for m.qlen.Load() > 0 || !m.release() {
		it := m.dequeue()
		if e := m.process(&it); it.id == id {
			err = e
		}
	}
	return err
}

// release gives up busy. It reports false if events were queued meanwhile
// and busy was taken back: the caller must process them. The re-check after
// the release closes the race with an enqueue that saw busy still held.
func (m *Machine[S, E]) release() bool {
	m.busy.Store(false)
	return m.qlen.Load() == 0 || !m.busy.CompareAndSwap(false, true)
}

// requestStop queues the stop and processes it on the calling goroutine if
// no other goroutine is processing.
func (m *Machine[S, E]) requestStop() {
	if m.stopReq.CompareAndSwap(false, true) {
		m.enqueue(item{op: opStop})
	}
	if m.busy.CompareAndSwap(false, true) {
		m.drain()
	}
}

// requestStopAsync queues the stop for another goroutine to process.
func (m *Machine[S, E]) requestStopAsync() {
	if m.stopReq.CompareAndSwap(false, true) {
		m.enqueue(item{op: opStop})
	}
	m.kick()
}
