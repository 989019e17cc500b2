<?xml version="1.0" encoding="UTF-8"?>
<!-- Shows an RSS 2.0 or Atom feed opened in a browser as a readable page. Feed readers ignore
     it (it is only an xml-stylesheet processing instruction at the top of the document). -->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:atom="http://www.w3.org/2005/Atom"
    exclude-result-prefixes="atom">
  <xsl:output method="html" encoding="UTF-8" indent="yes"
      doctype-system="about:legacy-compat"/>

  <xsl:template match="/">
    <xsl:variable name="title" select="rss/channel/title | atom:feed/atom:title"/>
    <html>
      <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title><xsl:value-of select="$title"/> (feed)</title>
        <style>
          body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto;
                 padding: 0 1rem; line-height: 1.5; color: #222; }
          .about { background: #fff8dc; border: 1px solid #e6d8a8; padding: .75rem 1rem;
                   border-radius: 6px; }
          code { background: #f2f2f2; padding: 0 .25rem; word-break: break-all; }
          li { margin: 1rem 0; } time { color: #666; font-size: .9em; }
        </style>
      </head>
      <body>
        <p class="about">This is a <strong>web feed</strong>. Copy its address into a feed
          reader to follow it: <code><xsl:value-of
          select="rss/channel/atom:link[@rel='self']/@href | atom:feed/atom:link[@rel='self']/@href"/></code>.
          <a href="/feeds/">All feeds</a></p>
        <h1><xsl:value-of select="$title"/></h1>
        <p><xsl:value-of select="rss/channel/description | atom:feed/atom:subtitle"/></p>
        <ol>
          <xsl:apply-templates select="rss/channel/item | atom:feed/atom:entry"/>
        </ol>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="item">
    <li>
      <a href="{link}"><xsl:value-of select="title"/></a><br/>
      <time><xsl:value-of select="pubDate"/></time>
      <p><xsl:value-of select="description"/></p>
    </li>
  </xsl:template>

  <xsl:template match="atom:entry">
    <li>
      <a href="{atom:link[@rel='alternate'][1]/@href}"><xsl:value-of select="atom:title"/></a><br/>
      <time><xsl:value-of select="atom:published"/></time>
      <p><xsl:value-of select="atom:summary"/></p>
    </li>
  </xsl:template>
</xsl:stylesheet>
