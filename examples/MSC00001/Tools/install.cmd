@echo off
pnputil /add-driver Drivers\net.inf /install
