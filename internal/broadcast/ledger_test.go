package broadcast

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestAClaimSucceedsOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		leads := fx.addPlainLeads(t, 6)
		l := newDeliveryLedger(fx.db, fx.engine, "cas", time.Minute)
		n, err := l.freeze(ctx, audienceFilter{pageID: testPage}, 4, time.Now())
		if err != nil || n != 6 {
			t.Fatalf("freeze = %d, %v; want 6 in batches of 4", n, err)
		}
		if frozen, err := l.frozen(ctx); err != nil || !frozen {
			t.Fatalf("frozen = %v, %v", frozen, err)
		}
		ds := fx.deliveries(t, "cas", leads[0].id, leads[1].id, leads[2].id)
		ids := []int64{ds[0].id, ds[1].id, ds[2].id}
		got, err := l.claim(ctx, ids[:2], time.Now())
		if err != nil || !slices.Equal(got, ids[:2]) {
			t.Fatalf("first claim = %v, %v", got, err)
		}
		// A batch where some rows are taken falls back to one by one.
		got, err = l.claim(ctx, ids, time.Now())
		if err != nil || !slices.Equal(got, ids[2:]) {
			t.Fatalf("overlapping claim = %v, %v; want only %v", got, err, ids[2:])
		}
		if got, _ := l.claim(ctx, ids, time.Now()); len(got) != 0 {
			t.Fatalf("a third claim got %v", got)
		}
		// Released claims can be claimed again; recorded ones cannot.
		if ok, err := l.recordSent(ctx, ds[0], "m_1", time.Now()); err != nil || !ok {
			t.Fatalf("recordSent = %v, %v", ok, err)
		}
		if err := l.release(ctx, ids); err != nil {
			t.Fatal(err)
		}
		if got, _ := l.claim(ctx, ids, time.Now()); !slices.Equal(got, ids[1:]) {
			t.Fatalf("claim after release = %v, want %v", got, ids[1:])
		}
		// A restart turns open claims into unknown outcomes; their late
		// outcome still lands.
		if n, err := l.recoverAbandoned(ctx, time.Now()); err != nil || n != 2 {
			t.Fatalf("recoverAbandoned = %d, %v; want 2", n, err)
		}
		if ok, _ := l.recordSent(ctx, ds[1], "m_2", time.Now()); !ok {
			t.Fatal("a late outcome for a recovered claim was refused")
		}
		p, err := l.counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := Progress{Audience: 6, Sent: 2, Failed: 1, UnknownOutcome: 1, Pending: 3}
		if p != want {
			t.Fatalf("counts = %+v, want %+v", p, want)
		}
		if n, err := l.retryFailed(ctx, time.Now()); err != nil || n != 0 {
			t.Fatalf("retryFailed = %d, %v; an unknown outcome must not be retried", n, err)
		}
	})
}

// deliveries returns the ledger rows of leadIDs, in that order.
func (fx *fixture) deliveries(t *testing.T, name string, leadIDs ...int64) []delivery {
	t.Helper()
	out := make([]delivery, len(leadIDs))
	for i, lead := range leadIDs {
		out[i].leadID = lead
		q := rebind(fx.engine, `SELECT id FROM broadcast_deliveries WHERE broadcast = ? AND lead_id = ?`)
		if err := fx.db.QueryRowContext(context.Background(), q, name, lead).Scan(&out[i].id); err != nil {
			t.Fatalf("delivery of lead %d: %v", lead, err)
		}
	}
	return out
}
