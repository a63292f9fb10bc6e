package session

import (
	"reflect"
	"testing"
	"time"
)

// TestStatsAdd: a pool's Stats sum every counter of its connections, and
// take the largest of each duration: a field added to Stats and left out
// of the sum fails here.
func TestStatsAdd(t *testing.T) {
	var a, b Stats
	va, vb := reflect.ValueOf(&a).Elem(), reflect.ValueOf(&b).Elem()
	for i := range va.NumField() {
		switch f := va.Field(i); f.Kind() {
		case reflect.Uint64:
			f.SetUint(uint64(i + 1))
			vb.Field(i).SetUint(uint64(100 * (i + 1)))
		case reflect.Int, reflect.Int64:
			f.SetInt(int64(i + 1))
			vb.Field(i).SetInt(int64(100 * (i + 1)))
		default:
			t.Fatalf("Stats.%s is a %v: teach add and this test about it", va.Type().Field(i).Name, f.Kind())
		}
	}
	sum := a
	sum.add(b)
	vs := reflect.ValueOf(sum)
	durationType := reflect.TypeFor[time.Duration]()
	for i := range vs.NumField() {
		name, f := vs.Type().Field(i).Name, vs.Field(i)
		want := int64(101 * (i + 1)) // a sum
		if f.Type() == durationType {
			want = int64(100 * (i + 1)) // the largest
		}
		got := int64(0)
		if f.Kind() == reflect.Uint64 {
			got = int64(f.Uint())
		} else {
			got = f.Int()
		}
		if got != want {
			t.Errorf("Stats.%s after add = %d, want %d", name, got, want)
		}
	}
}
