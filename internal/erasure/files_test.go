package erasure

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/inboxchat/inboxchat-operator/internal/datamap"
)

// mustRoot opens the volume root for a test.
func mustRoot(t *testing.T, dir string) *os.Root {
	t.Helper()
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func TestFilesErasureNeverFollowsLinksOutOfTheVolume(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, engines[0])
	outside := t.TempDir()
	secret := filepath.Join(outside, "other-tenant.txt")
	if err := os.WriteFile(secret, []byte("another tenant's data"), 0o644); err != nil {
		t.Fatal(err)
	}
	linkInside, folderIsLink := f.seedUser(t), f.seedUser(t)
	// A link in the user's folder to a file outside the volume, and one to
	// another user's file inside it.
	dir := filepath.Join(f.root, "users", strconv.FormatInt(linkInside.id, 10))
	if err := os.Symlink(secret, filepath.Join(dir, "escape.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../"+strconv.FormatInt(folderIsLink.id, 10)+"/cv.txt", filepath.Join(dir, "neighbour.txt")); err != nil {
		t.Fatal(err)
	}
	// A user whose folder itself is a link to a folder outside the volume.
	other := filepath.Join(f.root, "users", strconv.FormatInt(folderIsLink.id, 10))
	if err := os.RemoveAll(other); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, other); err != nil {
		t.Fatal(err)
	}

	e := f.newEngine(t, Options{})
	req := Request{UID: uid(t, "links"), Subject: Subject{Kind: datamap.User, Email: linkInside.email}, Mode: ExportThenErase}
	res, err := e.Run(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if files := res.Stores[1]; files.Erased != linkInside.expectedFilePaths+2 || files.Remaining != 0 {
		t.Errorf("files = %+v, want the folder, its files and both links erased", files)
	}
	a := openExport(t, f, res, req.UID)
	for _, file := range collection(t, a, "files", "user_uploads").Files {
		if file.Type == "symlink" && len(file.Content) > 0 {
			t.Errorf("the export followed the link %s", file.Path)
		}
	}

	res, err = e.Run(ctx, Request{UID: uid(t, "folder-link"), Subject: Subject{Kind: datamap.User, Email: folderIsLink.email}})
	if err != nil {
		t.Fatal(err)
	}
	if files := res.Stores[1]; files.Erased != 1 {
		t.Errorf("files = %+v, want the link that stood for the folder erased as one path", files)
	}
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("the file outside the volume is gone: %v", err)
	}
	if f.exists(t, "users/"+strconv.FormatInt(folderIsLink.id, 10)) {
		t.Error("the link that stood for the user's folder is still there")
	}
}

func TestAFolderOnThePatternsWayThatIsALinkIsRefused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, engines[0])
	u := f.seedUser(t)
	real := t.TempDir()
	if err := os.Rename(filepath.Join(f.root, "users"), filepath.Join(real, "users")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(real, "users"), filepath.Join(f.root, "users")); err != nil {
		t.Fatal(err)
	}
	_, err := f.newEngine(t, Options{}).Run(ctx, Request{UID: uid(t, "users-link"), Subject: Subject{Kind: datamap.User, Email: u.email}})
	if err == nil {
		t.Fatal("erasing through a users/ folder that is a link to outside the volume succeeded")
	}
	if _, err := os.Stat(filepath.Join(real, "users", strconv.FormatInt(u.id, 10), "cv.txt")); err != nil {
		t.Errorf("a file behind the link was touched: %v", err)
	}
}
