package auth

import "sync"

// boundedMap is a map, safe for concurrent use, that holds at most max
// entries: the memory of the caches in front of the database and the
// signature check. When it is full, put first drops the entries that stale
// reports, then, if it is still full, arbitrary ones (Go's map order) down to
// nine tenths of max, so that the scan is paid once per max/10 insertions
// rather than on each.
// What is dropped only costs a later request the work the cache saved.
type boundedMap[K comparable, V any] struct {
	max int

	mu      sync.RWMutex
	entries map[K]V
}

func newBoundedMap[K comparable, V any](max int) *boundedMap[K, V] {
	return &boundedMap[K, V]{max: max, entries: make(map[K]V)}
}

func (m *boundedMap[K, V]) get(key K) (V, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.entries[key]
	return v, ok
}

func (m *boundedMap[K, V]) put(key K, value V, stale func(V) bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.entries) >= m.max {
		for k, v := range m.entries {
			if stale(v) {
				delete(m.entries, k)
			}
		}
		if len(m.entries) >= m.max {
			for k := range m.entries {
				if len(m.entries) < m.max*9/10 {
					break
				}
				delete(m.entries, k)
			}
		}
	}
	m.entries[key] = value
}

func (m *boundedMap[K, V]) delete(key K) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, key)
}
