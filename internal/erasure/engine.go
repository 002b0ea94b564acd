package erasure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
)

// DefaultBatchSize is how many Redis keys one SCAN asks for and one DEL
// deletes, and how many rows one offboarding DELETE removes, when
// Options.BatchSize is zero.
const DefaultBatchSize = 500

// Names of the phases Options.AfterStep is called after, besides each plan
// step ("<store>/<collection>") and the middle of a step that is not one
// transaction ("<store>/<collection>/partial").
const (
	// StepResolve: the subject was resolved to internal ids.
	StepResolve = "resolve"
	// StepExport: the export was written and recorded.
	StepExport = "export"
	// StepVerify: every step was queried again.
	StepVerify = "verify"
	// StepComplete: the request was recorded as complete.
	StepComplete = "complete"
)

// partialSuffix ends the name of the mid-step point of a step.
const partialSuffix = "/partial"

// Options tune an Engine.
type Options struct {
	// Now is the clock; time.Now when nil. A run reads it once, at its
	// start.
	Now func() time.Time
	// Logger receives one record per phase and step, with counts and
	// names, never values. Default: no logging.
	Logger *slog.Logger
	// BatchSize: see DefaultBatchSize.
	BatchSize int
	// AfterStep, when set, is called after each step of a run has been
	// recorded (see StepResolve and the other Step names); a non-nil error
	// stops the run there, as if the worker had been killed. For tests.
	AfterStep func(step string) error
	// ExportPartRecords and ExportPartBytes bound one part of a tenant
	// export; DefaultExportPartRecords and DefaultExportPartBytes when
	// zero.
	ExportPartRecords int
	ExportPartBytes   int
	// KeepExport, when set, is the uid of a tenant export that
	// EraseTenant keeps (exports/offboarding-<uid>/): it must be complete,
	// or EraseTenant erases nothing.
	KeepExport string
}

// Engine runs erasure requests against one tenant's stores with one data
// map. It is safe for concurrent use by requests with different UIDs.
type Engine struct {
	stores  Stores
	m       *datamap.Map
	opts    Options
	plans   map[datamap.SubjectKind]*datamap.Plan
	hashKey []byte
}

// New checks the map and the stores and returns an Engine.
func New(stores Stores, m *datamap.Map, opts Options) (*Engine, error) {
	if m == nil {
		return nil, errors.New("erasure: no data map")
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("erasure: invalid data map: %w", err)
	}
	if err := stores.validate(m); err != nil {
		return nil, fmt.Errorf("erasure: %w", err)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.ExportPartRecords <= 0 {
		opts.ExportPartRecords = DefaultExportPartRecords
	}
	if opts.ExportPartBytes <= 0 {
		opts.ExportPartBytes = DefaultExportPartBytes
	}
	if opts.KeepExport != "" && !validExportUID.MatchString(opts.KeepExport) {
		return nil, errors.New("erasure: Options.KeepExport is not a valid export uid")
	}
	e := &Engine{stores: stores, m: m, opts: opts, plans: map[datamap.SubjectKind]*datamap.Plan{}, hashKey: stores.HashKey}
	if len(e.hashKey) == 0 {
		e.hashKey = deriveHashKey(stores.BlindIndexKey)
	}
	for _, kind := range datamap.SubjectKinds {
		p, err := m.Plan(kind)
		if err != nil {
			return nil, fmt.Errorf("erasure: planning the erasure of a %s: %w", kind, err)
		}
		e.plans[kind] = p
	}
	return e, nil
}

// Run carries out one request: resolve, export (when the mode asks), erase
// step by step, verify, complete. It resumes a request that an earlier run
// left unfinished and returns the recorded result of one that completed.
//
// A subject that is not found completes with zero erased. When the
// verification still finds records that should be gone, Run returns the
// Result (whose Remaining counts say where) and ErrNotErased; the request is
// not recorded as complete, so running it again tries again. Errors name
// stores and steps, never values.
func (e *Engine) Run(ctx context.Context, req Request) (Result, error) {
	req, err := req.normalize()
	if err != nil {
		return Result{}, fmt.Errorf("erasure: %w", err)
	}
	r, err := e.newRun(req)
	if err != nil {
		return Result{}, err
	}
	defer r.close()
	return r.run(ctx)
}

// run is one execution of a request.
type run struct {
	e           *Engine
	req         Request
	plan        *datamap.Plan
	now         time.Time
	log         *slog.Logger
	ledger      *ledger
	adapters    map[string]storeAdapter
	sql         *sqlStore
	root        *os.Root
	fingerprint string
}

// newRun binds the adapters for one request.
func (e *Engine) newRun(req Request) (*run, error) {
	fp, err := req.Subject.fingerprint(e.stores.BlindIndexKey)
	if err != nil {
		return nil, fmt.Errorf("erasure: %w", err)
	}
	now := e.opts.Now().UTC()
	r := &run{
		e: e, req: req, plan: e.plans[req.Subject.Kind], now: now, fingerprint: fp,
		log:      e.opts.Logger.With("request", req.UID, "subjectKind", string(req.Subject.Kind)),
		ledger:   &ledger{db: e.stores.DB, engine: e.stores.Engine, request: req.UID, now: func() time.Time { return e.opts.Now().UTC() }},
		adapters: map[string]storeAdapter{},
	}
	if e.stores.FilesRoot != "" {
		if r.root, err = os.OpenRoot(e.stores.FilesRoot); err != nil {
			return nil, stepErr("files", "open", "opening the files volume", err)
		}
	}
	for _, b := range e.bindAdapters(r.ledger, r.root, now) {
		r.adapters[b.store] = b.adapter
		if s, ok := b.adapter.(*sqlStore); ok {
			r.sql = s
		}
	}
	return r, nil
}

// close releases the run's resources.
func (r *run) close() {
	if r.root != nil {
		_ = r.root.Close()
	}
}

// hook calls Options.AfterStep.
func (r *run) hook(step string) error {
	if r.e.opts.AfterStep == nil {
		return nil
	}
	if err := r.e.opts.AfterStep(step); err != nil {
		return fmt.Errorf("%w: after %s: %w", ErrStopped, step, err)
	}
	return nil
}

// run carries out the request.
func (r *run) run(ctx context.Context) (Result, error) {
	var rows ledgerRows
	if !r.req.DryRun {
		var err error
		if rows, err = r.ledger.load(ctx); err != nil {
			return Result{}, err
		}
		if rows.done(requestStore, stepVerified) {
			r.log.Info("the request completed before; returning its recorded result")
			return r.fromLedger(rows), nil
		}
	}
	ids, err := r.resolve(ctx)
	if err != nil {
		return Result{}, err
	}
	holds, err := r.holds(ctx, ids)
	if err != nil {
		return Result{}, err
	}
	if r.req.DryRun {
		return r.dryRun(ctx, ids, holds)
	}
	if len(ids) == 0 {
		return r.notFound(ctx, rows)
	}
	if _, err := r.ledger.insert(ctx, r.ledger.db, requestStore, stepResolved, stateDone, tally{Erased: int64(len(ids))}, time.Time{}); err != nil {
		return Result{}, err
	}
	r.log.Info("resolved the subject", "ids", len(ids), "underLegalHold", len(holds))
	if err := r.hook(StepResolve); err != nil {
		return Result{}, err
	}

	if r.req.Mode.exports() {
		if _, done := rows.export(); !done {
			if err := r.export(ctx, ids); err != nil {
				return Result{}, err
			}
		}
		if err := r.hook(StepExport); err != nil {
			return Result{}, err
		}
	}
	if r.req.Mode.erases() {
		free, held := splitHeld(ids, holds)
		for _, step := range r.plan.Steps {
			if rows.done(step.Store, step.Collection) {
				continue
			}
			if err := r.eraseStep(ctx, step, free, held, holds); err != nil {
				return Result{}, err
			}
		}
		remaining, err := r.verify(ctx, free)
		if err != nil {
			return Result{}, err
		}
		if err := r.hook(StepVerify); err != nil {
			return Result{}, err
		}
		if remaining > 0 {
			rows, err := r.ledger.load(ctx)
			if err != nil {
				return Result{}, err
			}
			res := r.fromLedger(rows)
			var left []string
			for _, s := range res.Stores {
				if s.Remaining > 0 {
					left = append(left, fmt.Sprintf("%s still holds %d", s.Name, s.Remaining))
				}
			}
			return res, fmt.Errorf("%w: %s", ErrNotErased, strings.Join(left, ", "))
		}
	}
	return r.complete(ctx)
}

// eraseStep erases one plan step for the ids not under a legal hold and
// records what it keeps for those under one.
func (r *run) eraseStep(ctx context.Context, step datamap.Step, free, held []string, holds map[string][]string) error {
	a := r.adapters[step.Store]
	name := step.Store + "/" + step.Collection
	t := target{step: step, ids: free, partial: func() error { return r.hook(name + partialSuffix) }}
	if len(held) > 0 {
		c, err := a.Count(ctx, target{step: step, ids: held})
		if err != nil {
			return err
		}
		t.held = tally{Retained: c.Erased + c.Retained}
		if t.held.Retained > 0 {
			t.held.addReasons(holdReasons(held, holds)...)
		}
	}
	res, err := a.Erase(ctx, t)
	if isForeignKeyViolation(err) {
		// Rows of a child written after its step ran hold this step's rows
		// back: erase the children again, then this step.
		r.log.Warn("a step's rows are still referenced; erasing the steps before it again", "store", step.Store, "step", step.Collection)
		if err := r.repairBefore(ctx, step, free); err != nil {
			return err
		}
		res, err = a.Erase(ctx, t)
	}
	if err != nil {
		return err
	}
	r.log.Info("erased a step", "store", step.Store, "step", step.Collection, "action", string(step.Action),
		"erased", res.Erased, "retained", res.Retained)
	return r.hook(name)
}

// complete records the request as complete and returns its result.
func (r *run) complete(ctx context.Context) (Result, error) {
	if _, err := r.ledger.insert(ctx, r.ledger.db, requestStore, stepVerified, stateDone, tally{}, time.Time{}); err != nil {
		return Result{}, err
	}
	rows, err := r.ledger.load(ctx)
	if err != nil {
		return Result{}, err
	}
	res := r.fromLedger(rows)
	t := res.Totals()
	r.log.Info("the request is complete", "mode", string(r.req.Mode), "erased", t.Erased, "retained", t.Retained,
		"remaining", t.Remaining, "exported", t.Exported)
	return res, r.hook(StepComplete)
}

// notFound completes a request whose subject is not found. If an earlier
// run of the request had found it and recorded every step, the subject's
// root row is gone because this request erased it: the request completes
// with what the ledger recorded.
func (r *run) notFound(ctx context.Context, rows ledgerRows) (Result, error) {
	if resolved, ok := rows.get(requestStore, stepResolved); ok && resolved.Erased > 0 && r.req.Mode.erases() {
		for _, step := range r.plan.Steps {
			if !rows.done(step.Store, step.Collection) {
				return Result{}, &StepError{Store: step.Store, Step: step.Collection, Op: "resuming", Err: ErrSubjectLost}
			}
		}
		r.log.Info("the subject's root row is gone and every step is recorded: completing from the ledger")
		return r.complete(ctx)
	}
	if _, err := r.ledger.insert(ctx, r.ledger.db, requestStore, stepResolved, stateDone, tally{}, time.Time{}); err != nil {
		return Result{}, err
	}
	r.log.Info("the subject was not found: nothing to export or erase")
	return r.complete(ctx)
}
