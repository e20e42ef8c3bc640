package main

import (
	"fmt"
	"runtime"

	"k8s.io/apimachinery/pkg/types"

	"github.com/sealgate/sealgate/pkg/audit"
)

// storeCost is what the background audit's informers keep per object, measured in this process:
// the Go heap held by the plan's objects after audit.Transform, and by the same objects typed, as
// the benchmark writes them (without what the API server adds: managedFields, status, defaults).
type storeCost struct {
	Objects                  int
	Transformed, Typed       float64 // bytes per object
	TransformedMiB, TypedMiB float64
}

func measureStoreCost(p plan) (storeCost, error) {
	c := storeCost{}
	for _, transformed := range []bool{true, false} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		kept := make([]any, 0, p.Objects)
		for _, u := range p.Units {
			items := unitObjects(u)
			for i := range items {
				items[i].Obj.SetUID(types.UID(fmt.Sprintf("%s/%s/%d", u.Namespace, u.Name, i)))
				linkOwner(items, i)
				var obj any = items[i].Obj
				if transformed {
					var err error
					if obj, err = audit.Transform(items[i].Obj); err != nil {
						return c, fmt.Errorf("transforming %s/%s: %w", u.Namespace, items[i].Obj.GetName(), err)
					}
					if _, ok := obj.(*audit.Object); !ok {
						return c, fmt.Errorf("audit.Transform kept %T", obj)
					}
				}
				kept = append(kept, obj)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		held := float64(after.HeapAlloc) - float64(before.HeapAlloc)
		runtime.KeepAlive(kept)
		if transformed {
			c.TransformedMiB, c.Transformed = held/(1<<20), held/float64(len(kept))
		} else {
			c.TypedMiB, c.Typed = held/(1<<20), held/float64(len(kept))
		}
		c.Objects = len(kept)
	}
	return c, nil
}
