"""The provider agent: compute backends, the HTTP servers, and the paid inference endpoint."""
