package progress

import (
	"reflect"
	"testing"
)

func TestRangesOf(t *testing.T) {
	tests := []struct {
		in   []int
		want Ranges
	}{
		{nil, nil},
		{[]int{3}, Ranges{{3, 3}}},
		{[]int{5, 1, 2, 3, 3, 9, 10}, Ranges{{1, 3}, {5, 5}, {9, 10}}},
	}
	for _, tt := range tests {
		got := RangesOf(tt.in)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("RangesOf(%v) = %v, want %v", tt.in, got, tt.want)
		}
		var back []int
		got.Each(func(n int) { back = append(back, n) })
		if len(back) != got.Len() {
			t.Errorf("Len %d, Each %d", got.Len(), len(back))
		}
	}
}

func TestMessageRoundTrip(t *testing.T) {
	m := Message{Operation: "op", Stage: Failed, Seqs: Ranges{{0, 4}}, Errors: []Failure{{Seq: 2, Reason: "bad", Offset: 9}}}
	got, err := Decode(m.Encode())
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("got %+v, %v", got, err)
	}
	if _, err := Decode([]byte(`{"operation":"x","stage":"weird"}`)); err == nil {
		t.Error("unknown stage accepted")
	}
	if _, err := Decode([]byte(`{"stage":"indexed"}`)); err == nil {
		t.Error("missing operation accepted")
	}
}

func TestCollector(t *testing.T) {
	c := Collector{}
	c.Add("b", 2)
	c.Add("a", 1)
	c.Add("b", 1)
	got := c.Messages(Indexed)
	want := []Message{{Operation: "a", Stage: Indexed, Seqs: Ranges{{1, 1}}}, {Operation: "b", Stage: Indexed, Seqs: Ranges{{1, 2}}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
}
