"""scanpath.core"""
