package verify

import (
	"container/list"
	"sync"
	"time"
)

// cacheKey identifies one verification: the signatures of one digest in one repository (signatures
// live next to the image, so the same digest in another repository is another question), judged by
// one signature rule of one generation of a policy. A policy change makes a new generation, so old
// results are never reused for a new rule.
type cacheKey struct {
	Repository string // registry/repository
	Digest     string
	Policy     string
	Generation int64
	Rule       int
	// Scope is the credential scope of a result that is not a success ("" for successes, which
	// hold for every namespace); see verifyDigest.
	Scope string
}

// cache is the LRU of verification results.
type cache = lru[cacheKey, result]

func newCache(size int, now func() time.Time) *cache { return newLRU[cacheKey, result](size, now) }

type lruEntry[K comparable, V any] struct {
	key     K
	val     V
	expires time.Time
}

// lru is a bounded LRU with a time to live per entry: verification results and image configs.
type lru[K comparable, V any] struct {
	mu    sync.Mutex
	size  int
	ll    *list.List // front is most recently used
	items map[K]*list.Element
	now   func() time.Time
}

func newLRU[K comparable, V any](size int, now func() time.Time) *lru[K, V] {
	return &lru[K, V]{size: size, ll: list.New(), items: make(map[K]*list.Element, min(size, 1024)), now: now}
}

func (c *lru[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero V
	el, ok := c.items[k]
	if !ok {
		return zero, false
	}
	e := el.Value.(*lruEntry[K, V])
	if !c.now().Before(e.expires) {
		c.ll.Remove(el)
		delete(c.items, k)
		return zero, false
	}
	c.ll.MoveToFront(el)
	return e.val, true
}

func (c *lru[K, V]) put(k K, v V, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp := c.now().Add(ttl)
	if el, ok := c.items[k]; ok {
		e := el.Value.(*lruEntry[K, V])
		e.val, e.expires = v, exp
		c.ll.MoveToFront(el)
		return
	}
	c.items[k] = c.ll.PushFront(&lruEntry[K, V]{key: k, val: v, expires: exp})
	for c.ll.Len() > c.size {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*lruEntry[K, V]).key)
	}
}

func (c *lru[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
