"""scanpath.analysis"""
