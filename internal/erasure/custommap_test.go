package erasure

import (
	"context"
	"reflect"
	"testing"

	"github.com/inboxchat/inboxchat-operator/internal/crypto"
	"github.com/inboxchat/inboxchat-operator/internal/datamap"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// customMap routes through a table in between (order_lines -> orders ->
// accounts), pseudonymises instead of deleting (audit: hash and null), and
// has a Redis pattern with two placeholders, so that each route binds only
// one of them and the other is matched with SCAN.
const customMap = `
version: 1
name: custom
stores:
  - name: cache
    kind: redis
    collections:
      - name: entries
        key: "entry:{userID}:{item}"
        identities: [{subject: User, identifier: id, field: userID}]
        references: [{field: item, to: items.members}]
        strategy: delete
      - name: items
        key: "items:{userID}"
        type: set
        identities: [{subject: User, identifier: id, field: userID}]
        strategy: delete
  - name: db
    kind: sql
    collections:
      - name: order_lines
        primaryKey: id
        references: [{field: order_id, to: orders.id}]
        fields: [{name: note, strategy: delete}]
      - name: orders
        primaryKey: id
        references: [{field: account_id, to: accounts.id}]
        fields: [{name: account_id, strategy: delete}]
      - name: audit
        primaryKey: id
        identities: [{subject: User, identifier: id, field: actor}]
        fields:
          - {name: actor, strategy: hash}
          - {name: ip, strategy: "null"}
      - name: accounts
        primaryKey: id
        identities:
          - {subject: User, identifier: id, field: id}
          - {subject: User, identifier: email, field: email_bidx, blindIndex: true}
        fields: [{name: email_bidx, strategy: delete}]
`

func TestACustomMapWithHopsPseudonymisationAndScannedKeys(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, engine)
			binary := "BYTEA"
			if engine == schema.MySQL {
				binary = "VARBINARY(32)"
			}
			for _, stmt := range []string{
				"CREATE TABLE accounts (id BIGINT PRIMARY KEY, email_bidx " + binary + " NOT NULL)",
				"CREATE TABLE orders (id BIGINT PRIMARY KEY, account_id BIGINT NOT NULL)",
				"CREATE TABLE order_lines (id BIGINT PRIMARY KEY, order_id BIGINT NOT NULL, note VARCHAR(100))",
				"CREATE TABLE audit (id BIGINT PRIMARY KEY, actor VARCHAR(64), ip VARCHAR(64))",
			} {
				f.exec(t, stmt)
			}
			const email = "ana@example.org"
			f.exec(t, "INSERT INTO accounts VALUES (5, ?), (6, ?)", crypto.BlindIndex(f.bidxKey, "email", email), crypto.BlindIndex(f.bidxKey, "email", "other@example.org"))
			f.exec(t, "INSERT INTO orders VALUES (50, 5), (51, 5), (52, 6)")
			f.exec(t, "INSERT INTO order_lines VALUES (500, 50, 'gift wrap'), (501, 51, 'leave at door'), (502, 52, 'other')")
			f.exec(t, "INSERT INTO audit VALUES (1, '5', '192.0.2.1'), (2, '5', NULL), (3, '6', '192.0.2.9')")
			for key, value := range map[string]string{"entry:5:a": "1", "entry:5:b": "2", "entry:5:zzz": "3", "entry:6:c": "4"} {
				if err := f.rdb.Set(ctx, key, value, 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.rdb.SAdd(ctx, "items:5", "a", "b").Err(); err != nil {
				t.Fatal(err)
			}
			if err := f.rdb.SAdd(ctx, "items:6", "c").Err(); err != nil {
				t.Fatal(err)
			}
			m, err := datamap.Load([]byte(customMap))
			if err != nil {
				t.Fatal(err)
			}
			s := f.stores()
			e, err := New(s, m, Options{BatchSize: 2})
			if err != nil {
				t.Fatal(err)
			}

			res, err := e.Run(ctx, Request{UID: uid(t, "custom"), Subject: Subject{Kind: datamap.User, Email: email}})
			if err != nil {
				t.Fatal(err)
			}
			want := []StoreResult{{Name: "cache", Erased: 3 + 1}, {Name: "db", Erased: 2 + 2 + 2 + 1}}
			if !reflect.DeepEqual(res.Stores, want) {
				t.Errorf("stores = %+v, want %+v", res.Stores, want)
			}
			if keys := f.redisKeys(t); !reflect.DeepEqual(keys, []string{"entry:6:c", "items:6"}) {
				t.Errorf("keys left %v, want only the other user's", keys)
			}
			for table, want := range map[string]int64{"accounts": 1, "orders": 1, "order_lines": 1} {
				if n := f.count(t, "SELECT COUNT(*) FROM "+table); n != want {
					t.Errorf("%s holds %d rows, want %d (the other account's)", table, n, want)
				}
			}
			hashed := hashValue(deriveHashKey(f.bidxKey), "audit", "actor", []byte("5"))
			rows, err := f.db.Query("SELECT id, COALESCE(actor, ''), COALESCE(ip, '') FROM audit ORDER BY id")
			if err != nil {
				t.Fatal(err)
			}
			var got [][3]string
			for rows.Next() {
				var r [3]string
				if err := rows.Scan(&r[0], &r[1], &r[2]); err != nil {
					t.Fatal(err)
				}
				got = append(got, r)
			}
			rows.Close()
			if wantRows := [][3]string{{"1", hashed, ""}, {"2", hashed, ""}, {"3", "6", "192.0.2.9"}}; !reflect.DeepEqual(got, wantRows) {
				t.Errorf("audit = %v, want the user's rows hashed and nulled, the other's untouched: %v", got, wantRows)
			}
		})
	}
}
