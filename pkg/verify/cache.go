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

type cacheEntry struct {
	key     cacheKey
	res     result
	expires time.Time
}

// cache is a bounded LRU of verification results with a time to live per entry.
type cache struct {
	mu    sync.Mutex
	size  int
	ll    *list.List // front is most recently used
	items map[cacheKey]*list.Element
	now   func() time.Time
}

func newCache(size int, now func() time.Time) *cache {
	return &cache{size: size, ll: list.New(), items: make(map[cacheKey]*list.Element, size), now: now}
}

func (c *cache) get(k cacheKey) (result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return result{}, false
	}
	e := el.Value.(*cacheEntry)
	if !c.now().Before(e.expires) {
		c.ll.Remove(el)
		delete(c.items, k)
		return result{}, false
	}
	c.ll.MoveToFront(el)
	return e.res, true
}

func (c *cache) put(k cacheKey, r result, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp := c.now().Add(ttl)
	if el, ok := c.items[k]; ok {
		e := el.Value.(*cacheEntry)
		e.res, e.expires = r, exp
		c.ll.MoveToFront(el)
		return
	}
	c.items[k] = c.ll.PushFront(&cacheEntry{key: k, res: r, expires: exp})
	for c.ll.Len() > c.size {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*cacheEntry).key)
	}
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
