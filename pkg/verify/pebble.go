package verify

import (
	"github.com/termflow/termflow/pkg/pebblestore"
	"github.com/termflow/termflow/pkg/posting"
)

// PebbleStore is what verification reads of one indexer's Pebble store.
type PebbleStore struct {
	// Name identifies the store in differences (its directory).
	Name string
	// Applied is the last applied offset per documents partition.
	Applied map[int32]int64

	postings map[termKey][]posting.Posting
	forward  map[string]*pebblestore.Forward // "index/id"
}

// ReadPebble reads a whole store: its applied offsets for the documents
// topic, its postings and its forward entries.
func ReadPebble(s *pebblestore.Store, name, topic string) (*PebbleStore, error) {
	applied, err := s.AppliedOffsets(topic)
	if err != nil {
		return nil, err
	}
	ps := &PebbleStore{Name: name, Applied: applied}
	return ps, ps.load(s, nil)
}

// load reads the postings and forward entries of the documents keep
// accepts (all when keep is nil).
func (ps *PebbleStore) load(s *pebblestore.Store, keep func(index, id string) bool) error {
	ps.postings = map[termKey][]posting.Posting{}
	ps.forward = map[string]*pebblestore.Forward{}
	var cur termKey
	var list []posting.Posting
	flush := func() {
		if len(list) > 0 {
			ps.postings[cur] = append(ps.postings[cur], list...)
		}
		list = list[:0]
	}
	err := s.EachPosting(func(index, field, term string, p pebblestore.Posting) error {
		if keep != nil && !keep(index, p.ID) {
			return nil
		}
		if k := (termKey{index, field, term}); k != cur {
			flush()
			cur = k
		}
		list = append(list, posting.Posting{Doc: p.ID, TF: p.TF, Length: p.Length})
		return nil
	})
	if err != nil {
		return err
	}
	flush()
	return s.EachForward(func(index, id string, f *pebblestore.Forward) error {
		if keep == nil || keep(index, id) {
			ps.forward[index+"/"+id] = f
		}
		return nil
	})
}
