"""scanpath.metrics"""
