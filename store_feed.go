// The store's feed of ticket changes, which the web desk's live pages
// follow (server-sent events).

package main

import (
	"sync"
	"sync/atomic"
)

// ticketFeed tells watchers that tickets changed. Every store method that
// changes a ticket notifies it once its transaction has committed, with the
// ticket's owner. A notification carries nothing else: a watcher reads
// what it shows again. With nobody watching, a notification costs one
// atomic load, so the write path does not pay for the desk.
type ticketFeed struct {
	watching atomic.Int64 // len(watchers)
	mu       sync.Mutex
	watchers map[*feedWatch]struct{}
	closed   chan struct{}
	once     sync.Once
}

// feedWatch is one watcher: the changes of one owner's tickets, or of
// every ticket (owner anyOwner: staff).
type feedWatch struct {
	owner int64
	// changed holds one value when a change came since the watcher last
	// took it: a burst of changes is one wake-up.
	changed chan struct{}
}

func newTicketFeed() *ticketFeed {
	return &ticketFeed{watchers: map[*feedWatch]struct{}{}, closed: make(chan struct{})}
}

// notify tells the watchers of owner's tickets, and those of every ticket,
// that one of owner's tickets changed.
func (f *ticketFeed) notify(owner int64) {
	if f.watching.Load() == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for w := range f.watchers {
		if w.owner == anyOwner || w.owner == owner {
			select {
			case w.changed <- struct{}{}:
			default:
			}
		}
	}
}

// watch starts watching owner's tickets (anyOwner: every ticket); stop ends it.
func (f *ticketFeed) watch(owner int64) (w *feedWatch, stop func()) {
	w = &feedWatch{owner: owner, changed: make(chan struct{}, 1)}
	f.mu.Lock()
	f.watchers[w] = struct{}{}
	f.watching.Store(int64(len(f.watchers)))
	f.mu.Unlock()
	return w, func() {
		f.mu.Lock()
		delete(f.watchers, w)
		f.watching.Store(int64(len(f.watchers)))
		f.mu.Unlock()
	}
}

// done is closed when the feed closes: every watcher should stop.
func (f *ticketFeed) done() <-chan struct{} { return f.closed }

// close ends every watch, at the server's shutdown: the desk's event
// streams are long requests that http.Server.Shutdown would otherwise wait
// for. It may be called more than once.
func (f *ticketFeed) close() { f.once.Do(func() { close(f.closed) }) }
