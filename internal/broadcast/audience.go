package broadcast

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// pendingLead is one pending delivery with what its lead looks like now.
// It holds sealed fields only; they are opened one lead at a time.
type pendingLead struct {
	delivery

	psidEnc, firstEnc, lastEnc []byte
	inWindow                   bool
	unsubscribed, unreachable  bool
}

// audienceReader reads the pending deliveries of a broadcast in pages
// ordered by lead id (keyset pagination), never the whole audience.
type audienceReader struct {
	db        *sql.DB
	broadcast string
	pageSQL   string
}

func newAudienceReader(l *deliveryLedger) *audienceReader {
	return &audienceReader{
		db:        l.db,
		broadcast: l.broadcast,
		// l.id > ? repeats d.lead_id > ? so that a merge join starts both
		// indexes at the cursor.
		pageSQL: rebind(l.engine, `SELECT d.id, d.lead_id, l.psid_enc, l.first_name_enc, l.last_name_enc,
  CASE WHEN l.last_inbound_at >= ? THEN 1 ELSE 0 END,
  CASE WHEN l.unsubscribed_at IS NULL THEN 0 ELSE 1 END,
  CASE WHEN l.unreachable_at IS NULL THEN 0 ELSE 1 END
FROM `+ledgerTable+` JOIN leads l ON l.id = d.lead_id
WHERE d.broadcast = ? AND d.lead_id > ? AND l.id > ? AND `+wherePending+`
ORDER BY d.lead_id LIMIT ?`),
	}
}

// page returns up to limit pending deliveries with a lead id above after.
// windowOpenSince is the earliest last message that keeps a lead's 24-hour
// window open.
func (a *audienceReader) page(ctx context.Context, after int64, limit int, windowOpenSince time.Time) ([]pendingLead, error) {
	rows, err := a.db.QueryContext(ctx, a.pageSQL, windowOpenSince.UTC(), a.broadcast, after, after, limit)
	if err != nil {
		return nil, fmt.Errorf("broadcast: reading the audience: %w", err)
	}
	defer rows.Close()
	out := make([]pendingLead, 0, limit)
	for rows.Next() {
		var (
			p                        pendingLead
			inWindow, unsub, unreach int
		)
		if err := rows.Scan(&p.id, &p.leadID, &p.psidEnc, &p.firstEnc, &p.lastEnc, &inWindow, &unsub, &unreach); err != nil {
			return nil, fmt.Errorf("broadcast: reading the audience: %w", err)
		}
		p.inWindow, p.unsubscribed, p.unreachable = inWindow == 1, unsub == 1, unreach == 1
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("broadcast: reading the audience: %w", err)
	}
	return out, nil
}
