global using NUnit.Framework;
global using FluentAssertions;
global using TritonOps.Tests.Infrastructure;
