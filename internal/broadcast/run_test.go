package broadcast

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/crypto"
	"github.com/inboxchat/inboxchat-operator/internal/messenger"
)

func TestEveryOptedInLeadGetsOneMessageWithAWorkingUnsubscribeLink(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		leads := fx.addPlainLeads(t, 40)
		var (
			mu      sync.Mutex
			reports []Progress
			logs    bytes.Buffer
		)
		cfg := fx.config(t, "spring-sale")
		cfg.OnProgress = func(p Progress) {
			mu.Lock()
			defer mu.Unlock()
			reports = append(reports, p)
		}
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		r := mustNew(t, cfg)

		p, err := r.Run(context.Background())
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		want := Progress{Audience: 40, Sent: 40}
		if got := p; got.Audience != want.Audience || got.Sent != want.Sent || got.Failed != 0 || got.Pending != 0 || !got.Done() {
			t.Fatalf("progress = %+v, want audience 40, all sent", got)
		}
		if p.Rate <= 0 {
			t.Errorf("progress rate = %v, want the observed send rate", p.Rate)
		}
		ledger := fx.ledger(t, "spring-sale")
		byPSID := map[string]messenger.Delivery{}
		for _, d := range fx.emu.Deliveries() {
			byPSID[d.PSID] = d
		}
		for _, l := range leads {
			if n := fx.emu.CountFor(l.psid); n != 1 {
				t.Fatalf("lead %d got %d messages, want exactly 1", l.id, n)
			}
			d := byPSID[l.psid]
			wantText := fmt.Sprintf("Hi %s %s, spring sale!\n\nUnsubscribe: https://%s/unsubscribe/", l.first, l.last, testHost)
			if !strings.HasPrefix(d.Text, wantText) {
				t.Fatalf("lead %d got %q, want it to start with %q", l.id, d.Text, wantText)
			}
			token := strings.TrimPrefix(d.Text, wantText)
			claims, err := crypto.VerifyUnsubscribe(fx.unsubKey, testTenant, token)
			if err != nil {
				t.Fatalf("the unsubscribe token of lead %d does not verify: %v", l.id, err)
			}
			if claims.LeadID != strconv.FormatInt(l.id, 10) || claims.Broadcast != "spring-sale" {
				t.Fatalf("the token of lead %d names lead %s of broadcast %s", l.id, claims.LeadID, claims.Broadcast)
			}
			if d.MessagingType != messenger.MessagingTypeUpdate {
				t.Fatalf("messaging type %s, want UPDATE", d.MessagingType)
			}
			row := ledger[l.id]
			if row.state != stateSent || row.messageID != d.MessageID || row.errorCode != "" {
				t.Fatalf("ledger row of lead %d = %+v, want sent with message id %s", l.id, row, d.MessageID)
			}
		}
		mu.Lock()
		if len(reports) == 0 || reports[0].Audience != 40 {
			t.Errorf("OnProgress got %+v, want a report with the frozen audience first", reports)
		}
		for _, rep := range reports {
			assertNoPersonalData(t, "a progress report", fmt.Sprintf("%+v", rep), leads)
		}
		mu.Unlock()
		assertNoPersonalData(t, "the log", logs.String(), leads)
		assertNoPersonalData(t, "the final progress", fmt.Sprintf("%+v", p), leads)

		// Counts reads the same from the ledger; a second Run sends nothing.
		c, err := r.Counts(context.Background())
		if err != nil || c.Sent != 40 || c.Audience != 40 {
			t.Fatalf("Counts = %+v, %v", c, err)
		}
		again, err := mustNew(t, fx.config(t, "spring-sale")).Run(context.Background())
		if err != nil || again.Sent != 40 || len(fx.emu.Deliveries()) != 40 {
			t.Fatalf("a second run: %+v, %v, %d deliveries; want nothing more sent", again, err, len(fx.emu.Deliveries()))
		}
	})
}

func TestOnlyTheFrozenAudienceIsMessaged(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		now := time.Now()
		in := fx.addLeads(t,
			lead{first: "Vip", tags: []string{"vip"}},
			lead{first: "VipNews", tags: []string{"vip", "news"}},
		)
		out := fx.addLeads(t,
			lead{first: "NoOptIn", notOptedIn: true, tags: []string{"vip"}},
			lead{first: "OptedOut", unsubscribed: true, tags: []string{"vip"}},
			lead{first: "Untagged"},
			lead{first: "Churned", tags: []string{"vip", "churned"}},
			lead{first: "Unreachable", unreachable: true, tags: []string{"vip"}},
			lead{first: "OtherPage", page: "999", tags: []string{"vip"}},
		)
		skipped := fx.addLeads(t,
			lead{first: "Stale", lastInbound: now.Add(-25 * time.Hour), tags: []string{"vip"}},
			lead{first: "Silent", noInbound: true, tags: []string{"vip"}},
			lead{first: "GraphWindow", tags: []string{"vip"}},
			lead{first: "LateOptOut", tags: []string{"vip"}},
		)
		fx.emu.SetOutsideWindow(skipped[2].psid, true)

		cfg := fx.config(t, "vip-only")
		cfg.Tags = []string{"vip"}
		cfg.ExcludeTags = []string{"churned"}
		r := mustNew(t, cfg)
		var late []insertedLead
		r.hooks.afterFreeze = func() {
			// Unsubscribes after the freeze are honoured; leads created
			// after it do not join.
			fx.exec(t, `UPDATE leads SET unsubscribed_at = ? WHERE id = ?`, now.UTC(), skipped[3].id)
			late = fx.addLeads(t, lead{first: "Late", tags: []string{"vip"}})
		}
		p, err := r.Run(context.Background())
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if p.Audience != 6 || p.Sent != 2 || p.SkippedOutsideWindow != 3 || p.SkippedUnsubscribed != 1 || p.Failed != 0 || p.Pending != 0 {
			t.Fatalf("progress = %+v, want audience 6: 2 sent, 3 outside the window, 1 unsubscribed", p)
		}
		for _, l := range in {
			if n := fx.emu.CountFor(l.psid); n != 1 {
				t.Errorf("%s got %d messages, want 1", l.first, n)
			}
		}
		for _, l := range append(append(out, skipped...), late...) {
			if n := fx.emu.CountFor(l.psid); n != 0 {
				t.Errorf("%s got %d messages, want none", l.first, n)
			}
		}
		ledger := fx.ledger(t, "vip-only")
		for _, l := range append(out, late...) {
			if _, ok := ledger[l.id]; ok {
				t.Errorf("%s is in the audience", l.first)
			}
		}
		want := map[string]ledgerRow{
			"Stale":       {state: stateSkipped, skipReason: SkipOutsideWindow},
			"Silent":      {state: stateSkipped, skipReason: SkipOutsideWindow},
			"GraphWindow": {state: stateSkipped, skipReason: SkipOutsideWindow, errorCode: "10/2018278"},
			"LateOptOut":  {state: stateSkipped, skipReason: SkipUnsubscribed},
		}
		for _, l := range skipped {
			if got := ledger[l.id]; got != want[l.first] {
				t.Errorf("ledger row of %s = %+v, want %+v", l.first, got, want[l.first])
			}
		}
		if n := fx.emu.Answered(10); n != 1 {
			t.Errorf("Graph answered code 10 %d times; only the lead whose window Graph alone knows closed should be tried", n)
		}
	})
}

func TestMessageTagIsSentOutsideTheWindow(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		leads := fx.addLeads(t,
			lead{first: "Stale", lastInbound: time.Now().Add(-72 * time.Hour)},
			lead{first: "Fresh"},
		)
		cfg := fx.config(t, "account-notice")
		cfg.MessagingType = messenger.MessagingTypeMessageTag
		cfg.Tag = "ACCOUNT_UPDATE"
		p, err := mustNew(t, cfg).Run(context.Background())
		if err != nil || p.Sent != 2 {
			t.Fatalf("Run = %+v, %v; want both sent", p, err)
		}
		for _, d := range fx.emu.Deliveries() {
			if d.MessagingType != messenger.MessagingTypeMessageTag || d.Tag != "ACCOUNT_UPDATE" {
				t.Fatalf("delivery sent as %s/%s", d.MessagingType, d.Tag)
			}
		}
		for _, l := range leads {
			if fx.emu.CountFor(l.psid) != 1 {
				t.Fatalf("%s not messaged once", l.first)
			}
		}
	})
}

func TestAnUnavailableLeadIsMarkedUnreachable(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		leads := fx.addPlainLeads(t, 5)
		gone := leads[2]
		fx.emu.SetUnavailable(gone.psid, true)

		p, err := mustNew(t, fx.config(t, "first")).Run(context.Background())
		if err != nil || p.Sent != 4 || p.SkippedUnreachable != 1 || p.Failed != 0 {
			t.Fatalf("Run = %+v, %v; want 4 sent and 1 unreachable", p, err)
		}
		if row := fx.ledger(t, "first")[gone.id]; row.state != stateSkipped || row.skipReason != SkipUnreachable || row.errorCode != "551/1545041" {
			t.Fatalf("ledger row = %+v, want skipped unreachable with code 551/1545041", row)
		}
		if _, ok := fx.leadTime(t, gone.id, "unreachable_at"); !ok {
			t.Fatal("leads.unreachable_at was not set")
		}
		if _, ok := fx.leadTime(t, leads[0].id, "unreachable_at"); ok {
			t.Fatal("a reachable lead was marked unreachable")
		}

		// The next broadcast leaves the lead out of its audience.
		p, err = mustNew(t, fx.config(t, "second")).Run(context.Background())
		if err != nil || p.Audience != 4 || p.Sent != 4 {
			t.Fatalf("next broadcast = %+v, %v; want an audience of 4", p, err)
		}
		if n := fx.emu.Answered(551); n != 1 {
			t.Fatalf("Graph answered 551 %d times, want once", n)
		}
	})
}

func TestALeadThatCannotBeDecryptedFailsWithoutASend(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		leads := fx.addLeads(t, lead{first: "Ok"}, lead{first: "Moved", psidAD: "leads.psid:999999"})
		p, err := mustNew(t, fx.config(t, "b")).Run(context.Background())
		if err != nil || p.Sent != 1 || p.Failed != 1 || p.LastError.Code != ErrorCodeUndecryptable {
			t.Fatalf("Run = %+v, %v; want 1 sent, 1 failed undecryptable", p, err)
		}
		if n := fx.emu.CountFor(leads[1].psid); n != 0 {
			t.Fatalf("the undecryptable lead got %d messages", n)
		}
	})
}

func TestButtonsMakeAButtonTemplateThatStillCarriesTheLink(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		fx.addPlainLeads(t, 2)
		cfg := fx.config(t, "with-buttons")
		cfg.Buttons = []messenger.Button{{Title: "Shop", URL: "https://shop.example/sale"}}
		if _, err := mustNew(t, cfg).Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, d := range fx.emu.Deliveries() {
			if len(d.Buttons) != 1 || !strings.Contains(d.Text, "\n\nUnsubscribe: https://"+testHost+"/unsubscribe/") {
				t.Fatalf("delivery = %+v, want a button template with the unsubscribe link", d)
			}
		}
	})
}
