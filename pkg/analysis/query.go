package analysis

import "strings"

// QueryTerm is one term of a query, restricted to a field (AllField unless
// the query said field:term).
type QueryTerm struct {
	Field string
	Term  string
}

// ParseQuery splits a query into terms. Whitespace separates clauses; a
// clause "field:text" analyzes text and restricts its terms to field, any
// other clause is analyzed into AllField terms. Every term must match (AND).
// Duplicate terms are removed; order of first appearance is kept.
func ParseQuery(q string) []QueryTerm {
	var out []QueryTerm
	seen := map[QueryTerm]bool{}
	for _, clause := range strings.Fields(q) {
		field, text := AllField, clause
		if i := strings.IndexByte(clause, ':'); i > 0 && i < len(clause)-1 {
			field, text = fieldName(clause[:i]), clause[i+1:]
		}
		Tokens(text, func(t string) {
			qt := QueryTerm{Field: field, Term: t}
			if !seen[qt] {
				seen[qt] = true
				out = append(out, qt)
			}
		})
	}
	return out
}
