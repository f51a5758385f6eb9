"""placeholder"""
SOURCE = "chexpert"
