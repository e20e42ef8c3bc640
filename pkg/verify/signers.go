package verify

import (
	"strconv"
	"strings"
)

// countSigners counts the distinct signers among the attestors atts[i] for i in idx, in the order
// given: a threshold counts signers, and attestors that hold one key are one signer however many
// names list it. shared says, for each signer listed under several names, which ones.
func countSigners(atts []attestor, idx []int) (n int, shared []string) {
	names := map[string][]string{}
	var order []string
	for _, i := range idx {
		s := atts[i].signer
		if _, ok := names[s]; !ok {
			order = append(order, s)
		}
		names[s] = append(names[s], strconv.Quote(atts[i].name))
	}
	for _, s := range order {
		if ns := names[s]; len(ns) > 1 {
			shared = append(shared, "attestors "+joinAnd(ns)+" hold the same key and count as one signer")
		}
	}
	return len(order), shared
}

// joinAnd lists items as a sentence does: "a", "a and b", "a, b and c".
func joinAnd(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}
