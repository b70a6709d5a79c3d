package httpapi

import (
	"net/http"
	"time"

	"github.com/apistream/apistream"
)

// NodeList is the body of GET /v1/admin/nodes: the nodes sharing the store, by id, alive or expired
// (a node that stopped heartbeating without leaving, until it is pruned), as the store counted them
// at Now. Now is the answering server's clock, so a
// client reads each heartbeat's age against it rather than against its own. Self is the id of the
// node that answered: which one a load balancer chose.
type NodeList struct {
	Nodes []NodeStatus `json:"nodes"`
	Now   time.Time    `json:"now"`
	Self  string       `json:"self,omitempty"`
}

// NodeStatus is one node and whether its heartbeat held at the list's Now.
type NodeStatus struct {
	apistream.Node
	Alive bool `json:"alive"`
}

func (s *Server) handleNodes(w http.ResponseWriter, r *http.Request) {
	now := s.cfg.Now().UTC()
	nodes, err := s.cfg.Store.Nodes(r.Context(), now)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	l := NodeList{Nodes: make([]NodeStatus, 0, len(nodes)), Now: now, Self: s.cfg.Node}
	for _, n := range nodes {
		l.Nodes = append(l.Nodes, NodeStatus{Node: *n, Alive: n.Alive(now)})
	}
	writeJSON(w, http.StatusOK, l)
}
