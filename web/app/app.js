// the map page (filled in below)
