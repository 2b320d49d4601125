package command

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

func searchCommand() Command {
	return Command{
		Name:    "search",
		Summary: "search an index: search INDEX QUERY...",
		Run:     runSearch,
	}
}

type searchResult struct {
	Total int `json:"total"`
	Hits  []struct {
		ID     string          `json:"id"`
		Score  float64         `json:"score"`
		Source json.RawMessage `json:"source"`
	} `json:"hits"`
	TookMs int64 `json:"tookMs"`
}

func runSearch(ctx context.Context, args []string, env Env) error {
	var (
		af          apiFlags
		limit, from int
	)
	fs := newFlags("search", `usage: termflowctl search [flags] INDEX QUERY...

Searches an index: every term must match, field:term restricts a term to a
field; hits are ranked by BM25. Prints one hit per line: score, id, source.
`, env)
	af.register(fs)
	fs.IntVar(&limit, "limit", 10, "hits to return (1 to 1000)")
	fs.IntVar(&from, "from", 0, "hits to skip")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		fs.Usage()
		return fmt.Errorf("want an index and a query")
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	q := url.Values{"q": {strings.Join(pos[1:], " ")}, "limit": {strconv.Itoa(limit)}, "from": {strconv.Itoa(from)}}
	var res searchResult
	if err := c.get(ctx, "/indexes/"+url.PathEscape(pos[0])+"/search?"+q.Encode(), &res); err != nil {
		if isAPIError(err, 404) {
			return fmt.Errorf("index %s not found", pos[0])
		}
		return fmt.Errorf("search: %w", err)
	}
	if af.json {
		return writeJSON(env.Stdout, res)
	}
	for _, h := range res.Hits {
		fmt.Fprintf(env.Stdout, "%.3f\t%s\t%s\n", h.Score, h.ID, h.Source)
	}
	fmt.Fprintf(env.Stdout, "%d hits (%d shown) in %d ms\n", res.Total, len(res.Hits), res.TookMs)
	return nil
}
