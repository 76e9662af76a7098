"""Unit tests of the service layer: conversion, validation, status mapping, settings."""
