package module

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/costlb/costlb/module/history"
)

// serveHistory answers GET <costlb_status>/history.json: the process's
// history (history.Doc), one line of JSON. ?service=<name> keeps one
// service; ?backends=0 leaves out the backends' series, which make most of
// the document (what the page polls; it asks for one service's backends
// when they are shown).
func serveHistory(w http.ResponseWriter, r *http.Request) {
	q := history.Query{Service: r.URL.Query().Get("service")}
	switch b := r.URL.Query().Get("backends"); b {
	case "", "1":
	case "0":
		q.NoBackends = true
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("history.json: backends=%q: must be 0 (leave the backends' series out) or 1 (the default)", b)}, false)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(History.Snapshot(q))
}
