"""routeweave.ui"""
